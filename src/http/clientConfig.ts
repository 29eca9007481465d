import type { FastifyPluginAsync } from 'fastify';
import { MAX_PUBLISHERS, PROTOCOL_VERSION } from '../protocol/messages.js';

/** `GET /api/client-config`: what the browser needs before it opens the WebSocket. */
export const clientConfigRoutes: FastifyPluginAsync<{ wsUrl: (requestHost: string, secure: boolean) => string; routerRtpCapabilities: unknown }> = async (
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
            },
            required: ['wsUrl', 'protocol', 'maxPublishers'],
          },
        },
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      // Same host the page came from, so a link opened by IP or name keeps working.
      const host = req.hostname.includes(':') && !req.hostname.startsWith('[') ? `[${req.hostname}]` : req.hostname;
      return {
        wsUrl: opts.wsUrl(host, req.protocol === 'https'),
        protocol: PROTOCOL_VERSION,
        maxPublishers: MAX_PUBLISHERS,
        routerRtpCapabilities: opts.routerRtpCapabilities,
      };
    },
  );
};
