import type { FastifyPluginAsync } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import type { TurnService } from '../turn/service.js';
import { PEER_KEY_PATTERN } from '../turn/coturn.js';

export interface TurnRoutesOptions {
  service: TurnService;
  /** Per client IP; default 30 requests per minute. */
  rateLimit?: { max: number; windowMs: number };
}

const iceServerSchema = {
  type: 'object',
  properties: {
    urls: { type: 'array', items: { type: 'string' } },
    username: { type: 'string' },
    credential: { type: 'string' },
  },
  required: ['urls'],
} as const;

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

// Declared apart from the route so `summary` (read by @fastify/swagger) passes type checking.
const routeSchema = {
  summary: 'ICE servers and TURN credentials for a peer connection',
  querystring: {
    type: 'object',
    properties: {
      peer: { type: 'string', pattern: PEER_KEY_PATTERN.source, description: 'Names the coturn user; random when omitted.' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { iceServers: { type: 'array', items: iceServerSchema }, ttl: { type: 'integer' } },
      required: ['iceServers', 'ttl'],
    },
    429: errorSchema,
  },
} as const;

/**
 * `GET /api/turn`: ICE servers (with short-lived TURN credentials) for
 * RTCPeerConnection. Registered with its full path: use no prefix.
 */
export const turnRoutes: FastifyPluginAsync<TurnRoutesOptions> = async (app, opts) => {
  const { max, windowMs } = opts.rateLimit ?? { max: 30, windowMs: 60_000 };
  if (!(max >= 1 && windowMs >= 1)) throw new RangeError('rateLimit needs max >= 1 and windowMs >= 1');
  // A peer needs credentials once per join (and again on ICE restarts), so a small budget
  // per client address (req.ip: TRUST_PROXY decides) is plenty; the limit protects the
  // Twilio account and coturn from scripted credential harvesting. A fixed window per
  // address, in this plugin's scope only; Retry-After in whole seconds, rounded up.
  await app.register(fastifyRateLimit, {
    global: false,
    // In memory per node; @fastify/rate-limit takes a Redis store once nodes share Redis.
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
    errorResponseBuilder: (_req, ctx) => {
      const seconds = Math.max(1, Math.ceil(ctx.ttl / 1000));
      return { statusCode: 429, error: 'rate-limited', message: `Too many TURN credential requests; retry in ${seconds} s.` };
    },
  });

  app.get<{ Querystring: { peer?: string } }>(
    '/api/turn',
    {
      schema: routeSchema,
      // The limit runs onRequest, before validation: malformed requests use up the budget too.
      config: { rateLimit: { max, timeWindow: windowMs } },
      onRequest: async (_req, reply) => {
        // Credentials are per request and secret: no cache may keep them (also set on errors).
        reply.header('cache-control', 'no-store');
      },
    },
    async (req) => {
      const creds = await opts.service.credentials(req.query.peer);
      return { iceServers: creds.iceServers, ttl: creds.ttl };
    },
  );
};
