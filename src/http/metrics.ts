import type { FastifyPluginAsync } from 'fastify';
import type { Metrics } from '../metrics/metrics.js';
import { bearerChecker } from './bearer.js';

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

/**
 * `GET /metrics` for Prometheus. Registered with its full path: use no
 * prefix. Metric values say how busy the node is and which rooms-worth of
 * load it carries, so deployments reachable from the internet set a token.
 */
export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, opts) => {
  const authorised = opts.token === undefined ? undefined : bearerChecker(opts.token, 'metrics token');

  app.get(
    '/metrics',
    {
      schema: routeSchema,
      onRequest: async (req, reply) => {
        // Each scrape is a fresh reading; no proxy may serve an old one.
        reply.header('cache-control', 'no-store');
        if (!authorised || authorised(req.headers.authorization)) return;
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
