import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { turnRoutes } from '../../src/http/turn.js';
import { TurnService } from '../../src/turn/service.js';
import { captureLog } from '../helpers/captureLog.js';
import { runUclient, startCoturn, startTurnPeer, type Coturn } from '../helpers/coturn.js';

// Credentials minted by GET /api/turn, checked by a real coturn: a TURN
// allocation (plus relayed echo traffic) succeeds with them, and coturn
// refuses a wrong secret and an expired timestamp.

const SECRET = 'integration-static-auth-secret';

let coturn: Coturn | undefined;
let peer: { port: number; stop(): Promise<void> } | undefined;

beforeAll(async () => {
  coturn = await startCoturn({ secret: SECRET });
  peer = await startTurnPeer();
});
afterAll(async () => {
  await peer?.stop();
  await coturn?.stop();
});

/** The TURN entry GET /api/turn answers for this secret and clock. */
async function turnEntryFromRoute(secret: string, now?: () => number) {
  if (!coturn) throw new Error('coturn not started');
  const cfg: Config['turn'] = {
    twilio: undefined,
    coturn: { secret, urls: [`turn:127.0.0.1:${coturn.port}?transport=udp`] },
    stunUrls: [`stun:127.0.0.1:${coturn.port}`],
    ttlSeconds: 600,
  };
  const app = Fastify();
  await app.register(turnRoutes, { service: new TurnService(cfg, captureLog().log, now ? { now } : {}) });
  try {
    const res = await app.inject({ url: '/api/turn?peer=int-viewer' });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ iceServers: { urls: string[]; username?: string; credential?: string }[] }>();
    const entry = body.iceServers.find((s) => s.username !== undefined);
    const m = /^turn:([\d.]+):(\d+)\?transport=udp$/.exec(entry?.urls[0] ?? '');
    if (!entry?.username || !entry.credential || !m?.[1] || !m[2]) throw new Error(`no usable TURN entry in ${res.body}`);
    return { host: m[1], port: Number(m[2]), username: entry.username, credential: entry.credential };
  } finally {
    await app.close();
  }
}

async function allocate(entry: { host: string; port: number; username: string; credential: string }) {
  if (!peer) throw new Error('peer not started');
  return runUclient({ ...entry, peerPort: peer.port, messages: 3 });
}

describe('coturn REST credentials against a real turnserver', () => {
  it('allocates a relay and carries traffic with credentials from GET /api/turn', async () => {
    const entry = await turnEntryFromRoute(SECRET);
    expect(entry.username).toMatch(/^\d+:int-viewer$/);
    const res = await allocate(entry);
    expect(res.exitCode, res.output).toBe(0);
    expect(res.output).not.toContain('Cannot complete Allocation');
    expect(res.received, res.output).toBe(3);
  });

  it('is refused when the credentials were signed with another secret', async () => {
    const entry = await turnEntryFromRoute('not-the-server-secret');
    const res = await allocate(entry);
    expect(res.exitCode).not.toBe(0);
    expect(res.output).toContain('Cannot complete Allocation');
    expect(res.received).toBe(0);
    expect(await coturn?.log()).toContain(`Cannot find credentials of user <${entry.username}>`);
  });

  it('is refused when the timestamp has passed', async () => {
    // Issued 700 s ago with a 600 s ttl: expired 100 s ago, correctly signed.
    const entry = await turnEntryFromRoute(SECRET, () => Date.now() - 700_000);
    expect(Number(entry.username.split(':')[0])).toBeLessThan(Date.now() / 1000);
    const res = await allocate(entry);
    expect(res.exitCode).not.toBe(0);
    expect(res.output).toContain('Cannot complete Allocation');
    expect(res.received).toBe(0);
    expect(await coturn?.log()).toContain(`Cannot find credentials of user <${entry.username}>`);
  });
});
