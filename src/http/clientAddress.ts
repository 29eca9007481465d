import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

/** TRUST_PROXY as configured: `false`, `true`, a hop count, or proxy addresses/CIDRs. */
export type TrustProxy = boolean | number | string[];

/**
 * The trust function Fastify gets (its `trustProxy`) and the WebSocket upgrade uses,
 * so both read the same client address from the same headers. A hop count means
 * "believe the last n proxies" (what proxy-addr does for a number).
 */
export function trustFunction(trust: TrustProxy): (addr: string, hop: number) => boolean {
  if (trust === true) return () => true;
  if (trust === false) return () => false;
  if (typeof trust === 'number') return (_addr, hop) => hop < trust;
  return proxyAddr.compile(trust);
}

/** `::ffff:198.51.100.1` → `198.51.100.1`: one spelling per client, as Fastify's `req.ip` gives it. */
export function normaliseAddress(addr: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(addr) ? addr.slice(7) : addr;
}

/**
 * The client's address: the socket's peer, or, when that peer is a trusted proxy,
 * the first untrusted hop of X-Forwarded-For (Fastify's `req.ip`, same library).
 * An untrusted peer's X-Forwarded-For is ignored, so a client cannot pick its address.
 */
export function clientAddress(socketAddress: string, forwardedFor: string | undefined, trust: (addr: string, hop: number) => boolean): string {
  const remote = normaliseAddress(socketAddress);
  if (!forwardedFor) return remote;
  const req = { socket: { remoteAddress: remote }, headers: { 'x-forwarded-for': forwardedFor } } as unknown as IncomingMessage;
  return normaliseAddress(proxyAddr(req, trust));
}
