import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../../src/http/app.js';
import { TokenService } from '../../src/auth/tokens.js';
import { TurnService } from '../../src/turn/service.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { captureLog } from '../helpers/captureLog.js';

let app: FastifyInstance | undefined;
afterEach(async () => app?.close());

describe('no credentials in the HTTP log', () => {
  it('redacts Authorization and Cookie wherever a line carries request headers', async () => {
    const cap = captureLog();
    app = await buildHttpApp({
      log: cap.log,
      notReadyReasons: () => [],
      wsUrl: () => 'ws://127.0.0.1:1/ws',
      routerRtpCapabilities: {},
      access: { tokens: new TokenService('log-redaction-secret-log-redaction-1'), allowAnonymousViewers: true, isDraining: () => false, isBanned: () => false },
      turn: new TurnService({ twilio: undefined, coturn: undefined, stunUrls: ['stun:stun.example.test:3478'], ttlSeconds: 600 }, cap.log),
      turnRatePerMinute: 30,
      metrics: new Metrics(),
      metricsToken: 'metrics-token-0123456789',
      trustProxy: false,
    });
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
