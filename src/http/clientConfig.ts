import type { FastifyPluginAsync } from 'fastify';
import { MAX_PUBLISHERS, PROTOCOL_VERSION } from '../protocol/messages.js';

/** What the WebSocket URL is derived from: the page's request. */
export interface WsUrlRequest {
  /** Host with port, as the browser addressed the page (forwarded by a trusted proxy). */
  host: string;
  /** Host without port; IPv6 in brackets. */
  hostname: string;
  secure: boolean;
  /** The request came through a trusted proxy (TRUST_PROXY). */
  viaProxy: boolean;
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** A DNS name, IPv4 address or bracketed IPv6 address, with an optional port. */
export const VALID_HOST = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*\\.?|\\[[0-9A-Fa-f:.]+\\])(?::\\d{1,5})?$`);

/** `GET /api/client-config`: what the browser needs before it opens the WebSocket. */
export interface ClientConfigOptions {
  wsUrl: (req: WsUrlRequest) => string;
  routerRtpCapabilities: unknown;
  /** Cluster mode: the live nodes' socket URLs, for pages to carry on from when theirs goes away. */
  clusterNodes?: (() => Promise<{ wsUrl: string }[]>) | undefined;
}

export const clientConfigRoutes: FastifyPluginAsync<ClientConfigOptions> = async (
  app,
  opts,
) => {
  app.get(
    '/api/client-config',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              wsUrl: { type: 'string' },
              protocol: { type: 'integer' },
              maxPublishers: { type: 'integer' },
              routerRtpCapabilities: { type: 'object', additionalProperties: true },
              nodes: {
                type: 'array',
                description: 'Cluster mode: the live nodes (their WebSocket URLs) a page may reconnect to when its own node is gone',
                items: { type: 'object', properties: { wsUrl: { type: 'string' } }, required: ['wsUrl'] },
              },
            },
            required: ['wsUrl', 'protocol', 'maxPublishers'],
          },
          400: { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } }, required: ['error', 'message'] },
        },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      // The Host header ends up in a URL the page connects to: only a host name or address.
      if (!VALID_HOST.test(req.host)) return reply.code(400).send({ error: 'bad-request', message: 'The Host header is not a valid host name or address.' });
      // Same host the page came from, so a link opened by IP or name keeps working.
      const host = req.hostname.includes(':') && !req.hostname.startsWith('[') ? `[${req.hostname}]` : req.hostname;
      const nodes = opts.clusterNodes ? await opts.clusterNodes().catch(() => []) : undefined;
      return {
        wsUrl: opts.wsUrl({ host: req.host, hostname: host, secure: req.protocol === 'https', viaProxy: (req.ips?.length ?? 0) > 1 }),
        protocol: PROTOCOL_VERSION,
        maxPublishers: MAX_PUBLISHERS,
        routerRtpCapabilities: opts.routerRtpCapabilities,
        ...(nodes ? { nodes: nodes.map((n) => ({ wsUrl: n.wsUrl })) } : {}),
      };
    },
  );
};
