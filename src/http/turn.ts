import type { FastifyPluginAsync } from 'fastify';
import type { TurnService } from '../turn/service.js';
import { PEER_KEY_PATTERN } from '../turn/coturn.js';

export interface TurnRoutesOptions {
  service: TurnService;
  /** Per client IP; default 30 requests per minute. */
  rateLimit?: { max: number; windowMs: number };
}

/**
 * Fixed-window counter per key. A peer needs credentials once per join (and
 * again on ICE restarts), so a small budget is plenty; the limit protects the
 * Twilio account and coturn from scripted credential harvesting.
 */
class FixedWindowLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private nextSweep = 0;

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** 0 when allowed, else the ms until the key's window resets. */
  take(key: string, now: number): number {
    this.sweep(now);
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= this.max) return w.start + this.windowMs - now;
    w.count++;
    return 0;
  }

  // Forget finished windows once per window so the map does not grow with every IP ever seen.
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
    this.nextSweep = now + this.windowMs;
  }
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
  const limiter = new FixedWindowLimiter(max, windowMs);

  app.get<{ Querystring: { peer?: string } }>(
    '/api/turn',
    {
      schema: routeSchema,
      // onRequest runs before validation, so malformed requests use up the budget too.
      onRequest: async (req, reply) => {
        // Credentials are per request and secret: no cache may keep them (also set on errors).
        reply.header('cache-control', 'no-store');
        const waitMs = limiter.take(req.ip, Date.now());
        if (waitMs > 0) {
          const seconds = Math.max(1, Math.ceil(waitMs / 1000));
          reply.header('retry-after', String(seconds));
          return reply.code(429).send({ error: 'rate-limited', message: `Too many TURN credential requests; retry in ${seconds} s.` });
        }
      },
    },
    async (req) => {
      const creds = await opts.service.credentials(req.query.peer);
      return { iceServers: creds.iceServers, ttl: creds.ttl };
    },
  );
};
