import { createHmac } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { turnRoutes, type TurnRoutesOptions } from '../../src/http/turn.js';
import { TurnService } from '../../src/turn/service.js';
import { captureLog } from '../helpers/captureLog.js';
import { RedirectingRequestClient, startTwilioStandIn } from '../helpers/twilioStandIn.js';

const stunOnly: Config['turn'] = { twilio: undefined, coturn: undefined, stunUrls: ['stun:stun.example.test:3478'], ttlSeconds: 3600 };
const coturn = { secret: 'coturn-secret', urls: ['turn:turn.example.test:3478?transport=udp'] };

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function build(cfg: Config['turn'], rateLimit?: TurnRoutesOptions['rateLimit'], service = new TurnService(cfg, captureLog().log)) {
  app = Fastify();
  await app.register(turnRoutes, { service, ...(rateLimit ? { rateLimit } : {}) });
  return app;
}

describe('GET /api/turn', () => {
  it('answers STUN servers and the ttl, no-store, nothing else', async () => {
    const res = await (await build(stunOnly)).inject({ method: 'GET', url: '/api/turn' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ iceServers: [{ urls: ['stun:stun.example.test:3478'] }], ttl: 3600 });
  });

  it('uses `peer` as the coturn user and signs it', async () => {
    const res = await (await build({ ...stunOnly, coturn })).inject({ url: '/api/turn?peer=Viewer_7-b' });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ iceServers: { urls: string[]; username?: string; credential?: string }[]; ttl: number }>();
    const turn = body.iceServers.find((s) => s.username);
    expect(turn?.urls).toEqual(coturn.urls);
    expect(turn?.username).toMatch(/^\d+:Viewer_7-b$/);
    const expiry = Number(turn?.username?.split(':')[0]);
    expect(expiry - Math.floor(Date.now() / 1000)).toBeGreaterThan(3590);
    expect(turn?.credential).toBe(createHmac('sha1', coturn.secret).update(turn?.username ?? '').digest('base64'));
  });

  it('serves Twilio credentials when Twilio is configured', async () => {
    const standIn = await startTwilioStandIn();
    try {
      const cfg: Config['turn'] = { ...stunOnly, twilio: { accountSid: `AC${'b'.repeat(32)}`, authToken: 'tok' } };
      const service = new TurnService(cfg, captureLog().log, { twilioHttpClient: new RedirectingRequestClient(standIn.url) });
      const res = await (await build(cfg, undefined, service)).inject({ url: '/api/turn' });
      expect(res.statusCode).toBe(200);
      const body = res.json<{ iceServers: { urls: string[]; username?: string }[]; ttl: number }>();
      expect(body.ttl).toBe(3600);
      expect(body.iceServers.map((s) => s.urls[0])).toContain('turn:global.turn.twilio.com:3478?transport=udp');
      expect(body.iceServers.find((s) => s.username)?.username).toBe('twilio-user-1');
      expect(standIn.requests).toHaveLength(1);
    } finally {
      await standIn.close();
    }
  });

  it.each([
    ['a colon', 'a%3Ab'],
    ['an empty value', ''],
    ['65 characters', 'x'.repeat(65)],
    ['a space', 'a%20b'],
    ['non-ASCII', 'caf%C3%A9'],
  ])('refuses a peer with %s (400)', async (_what, peer) => {
    const res = await (await build({ ...stunOnly, coturn })).inject({ url: `/api/turn?peer=${peer}` });
    expect(res.statusCode).toBe(400);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json<{ message: string }>().message).toMatch(/peer/);
  });

  it('rate-limits per client IP with 429, a JSON error and Retry-After', async () => {
    const a = await build(stunOnly, { max: 3, windowMs: 60_000 });
    const from = (ip: string) => a.inject({ url: '/api/turn', remoteAddress: ip });

    for (let i = 0; i < 3; i++) expect((await from('203.0.113.1')).statusCode).toBe(200);
    const limited = await from('203.0.113.1');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toEqual({ error: 'rate-limited', message: expect.stringMatching(/retry/i) });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers['cache-control']).toBe('no-store');

    // Another client has its own budget.
    expect((await from('203.0.113.2')).statusCode).toBe(200);
  });

  it('counts invalid requests too, and opens again when the window ends', async () => {
    const a = await build(stunOnly, { max: 2, windowMs: 300 });
    expect((await a.inject({ url: '/api/turn?peer=bad:peer' })).statusCode).toBe(400);
    expect((await a.inject({ url: '/api/turn' })).statusCode).toBe(200);
    const limited = await a.inject({ url: '/api/turn' });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('1'); // rounded up to whole seconds
    await new Promise((r) => setTimeout(r, 350));
    expect((await a.inject({ url: '/api/turn' })).statusCode).toBe(200);
  });

  it('defaults to 30 requests per minute', async () => {
    const a = await build(stunOnly);
    const codes: number[] = [];
    for (let i = 0; i < 31; i++) codes.push((await a.inject({ url: '/api/turn' })).statusCode);
    expect(codes.filter((c) => c === 200)).toHaveLength(30);
    expect(codes.at(-1)).toBe(429);
  });
});
