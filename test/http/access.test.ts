import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { accessRoutes } from '../../src/http/access.js';
import { TokenService } from '../../src/auth/tokens.js';

const tokens = new TokenService('http-access-secret-http-access-secret-01');
let app: FastifyInstance;
afterEach(() => app?.close());

async function build(banned: string[] = []) {
  app = Fastify();
  await app.register(accessRoutes, { access: { tokens, allowAnonymousViewers: true, isDraining: () => false, isBanned: (_room, keys) => keys.some((k) => banned.includes(k)) } });
  return app;
}

describe('POST /api/access', () => {
  it('answers what the WebSocket upgrade would decide, with the reason', async () => {
    await build();
    const good = await tokens.mint({ role: 'publisher', room: 'stage', name: 'Ann', ttlSeconds: 60 });
    const ok = await app.inject({ method: 'POST', url: '/api/access', payload: { room: 'stage', token: good } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ role: 'publisher', room: 'stage', name: 'Ann' });

    const forged = await app.inject({ method: 'POST', url: '/api/access', payload: { room: 'stage', token: `${good.slice(0, -4)}AAAA` } });
    expect(forged.statusCode).toBe(401);
    expect(forged.json()).toEqual({ error: 'token-invalid', message: expect.stringMatching(/not valid here.*new link/) });
  });

  it('refuses a banned address', async () => {
    await build(['ip:127.0.0.1']);
    const r = await app.inject({ method: 'POST', url: '/api/access', payload: { room: 'stage' } });
    expect(r.statusCode).toBe(403);
    expect(r.json()).toMatchObject({ error: 'banned' });
  });

  it('gives a malformed body a 400', async () => {
    await build();
    for (const payload of [{ room: 'x'.repeat(65) }, { token: { nested: true } }, 'not json']) {
      const r = await app.inject({ method: 'POST', url: '/api/access', payload: payload as never, headers: { 'content-type': 'application/json' } });
      expect(r.statusCode, JSON.stringify(payload)).toBe(400);
    }
  });
});
