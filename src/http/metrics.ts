import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../metrics/metrics.js';

export interface MetricsRoutesOptions {
  metrics: Metrics;
  /** When set, scrapes must send `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

// Only the 401 is described: the 200 body is Prometheus text, which Fastify must send as is.
const routeSchema = {
  summary: 'Prometheus metrics (text exposition format)',
  response: { 401: errorSchema },
} as const;

/** SHA-256 first so both sides have equal length and the comparison does not leak the token's length. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * `GET /metrics` for Prometheus. Registered with its full path: use no
 * prefix. Metric values say how busy the node is and which rooms-worth of
 * load it carries, so deployments reachable from the internet set a token.
 */
export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, opts) => {
  if (opts.token !== undefined && opts.token.length === 0) throw new RangeError('metrics token must not be empty; omit it to disable');
  const expected = opts.token === undefined ? undefined : digest(opts.token);

  app.get(
    '/metrics',
    {
      schema: routeSchema,
      onRequest: async (req, reply) => {
        // Each scrape is a fresh reading; no proxy may serve an old one.
        reply.header('cache-control', 'no-store');
        if (!expected) return;
        const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
        if (m && timingSafeEqual(digest(m[1]!), expected)) return;
        reply.header('www-authenticate', 'Bearer realm="metrics"');
        return reply.code(401).send({ error: 'unauthorized', message: 'GET /metrics needs Authorization: Bearer <metrics token>.' });
      },
    },
    async (_req, reply) => {
      const text = await opts.metrics.text();
      return reply.type(opts.metrics.contentType).send(text);
    },
  );
};
