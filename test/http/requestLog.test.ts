import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp, redactUrl } from '../../src/http/app.js';
import { TokenService } from '../../src/auth/tokens.js';
import { TurnService } from '../../src/turn/service.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { captureLog } from '../helpers/captureLog.js';

const tokens = new TokenService('request-log-secret-request-log-secret-1');
let app: FastifyInstance | undefined;
afterEach(async () => app?.close());

/** The real HTTP app with no admin routes, logging into `cap`. */
function httpApp(cap: ReturnType<typeof captureLog>): Promise<FastifyInstance> {
  return buildHttpApp({
    log: cap.log,
    notReadyReasons: () => [],
    wsUrl: () => 'ws://127.0.0.1:1/ws',
    routerRtpCapabilities: {},
    access: { tokens, allowAnonymousViewers: true, isDraining: () => false, isBanned: () => false },
    turn: new TurnService({ twilio: undefined, coturn: undefined, stunUrls: ['stun:stun.example.test:3478'], ttlSeconds: 600 }, cap.log),
    turnRatePerMinute: 30,
    metrics: new Metrics(),
    metricsToken: 'metrics-token-0123456789',
    trustProxy: false,
  });
}

describe('request log: no credentials', () => {
  it('redacts credentials in URLs and keeps the rest', () => {
    expect(redactUrl('/broadcast.html?room=main&token=eyJa.b.c&quality=low')).toBe('/broadcast.html?room=main&token=[redacted]&quality=low');
    expect(redactUrl('/x?TOKEN=1&access_token=2#frag')).toBe('/x?TOKEN=[redacted]&access_token=[redacted]#frag');
    expect(redactUrl('/watch.html?room=main')).toBe('/watch.html?room=main');
  });

  it('never writes a link’s token to the log of a real request', async () => {
    const cap = captureLog();
    app = await httpApp(cap);
    const token = await tokens.mint({ role: 'publisher', room: 'main', name: 'Ann', ttlSeconds: 60 });
    const res = await app.inject({ method: 'GET', url: `/api/client-config?room=main&token=${token}` });
    expect(res.statusCode).toBe(200);
    expect(cap.text()).toContain('/api/client-config?room=main&token=[redacted]');
    expect(cap.text()).not.toContain(token);
    expect(cap.text()).not.toContain(token.split('.')[2]!);
  });
  it('redacts Authorization and Cookie wherever a line carries request headers', async () => {
    const cap = captureLog();
    app = await httpApp(cap);
    // A handler (or a plugin) that logs the headers it got, as debugging code does.
    app.get('/echo-headers', async (req) => {
      req.log.info({ headers: req.headers }, 'headers');
      req.log.info({ req: { headers: req.headers } }, 'request with headers');
      return {};
    });
    const secret = 'Bearer very-secret-admin-token-xyz';
    await app.inject({ url: '/echo-headers', headers: { authorization: secret, cookie: 'sid=cookie-secret' } });
    await app.inject({ url: '/metrics', headers: { authorization: secret } });
    const text = cap.text();
    expect(text).toContain('"headers"');
    expect(text).not.toContain('very-secret-admin-token-xyz');
    expect(text).not.toContain('cookie-secret');
    expect(text).toContain('[redacted]');
  });
});
