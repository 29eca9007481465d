import fs from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Logger } from '../log.js';
import { healthRoutes, type HealthOptions } from './health.js';
import { clientConfigRoutes } from './clientConfig.js';
import { turnRoutes } from './turn.js';
import type { TurnService } from '../turn/service.js';
import type { Metrics } from '../metrics/metrics.js';
import { metricsRoutes } from './metrics.js';

export interface HttpAppOptions {
  log: Logger;
  notReadyReasons: HealthOptions['notReadyReasons'];
  /** The WebSocket URL browsers connect to, given the host they loaded the page from. */
  wsUrl: (requestHost: string, secure: boolean) => string;
  /** Folder of the built browser client; not served when absent. */
  clientDir?: string | undefined;
  /** Largest accepted body, bytes. */
  bodyLimit?: number;
  turn: TurnService;
  metrics: Metrics;
  metricsToken: string | undefined;
  /** Fastify's trustProxy: which X-Forwarded-For hops are believed. */
  trustProxy: boolean | number | string[];
}

/** The HTTP surface: small encapsulated plugins on one Fastify instance. */
export async function buildHttpApp(opts: HttpAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.log.child({ component: 'http' }) as FastifyBaseLogger,
    // Probes and scrapes would drown the log; everything else is logged per request.
    logController: new LogController({
      disableRequestLogging: (req) => /^\/(health|ready|metrics)\b/.test(req.url),
    }),
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    // A hop count means "believe the last n proxies" (what proxy-addr does for a number).
    trustProxy: typeof opts.trustProxy === 'number' ? ((_addr: string, hop: number) => hop < (opts.trustProxy as number)) : opts.trustProxy,
  });
  await app.register(healthRoutes, { notReadyReasons: opts.notReadyReasons });
  await app.register(clientConfigRoutes, { wsUrl: opts.wsUrl });
  await app.register(turnRoutes, { service: opts.turn });
  await app.register(metricsRoutes, { metrics: opts.metrics, token: opts.metricsToken });
  if (opts.clientDir && fs.existsSync(opts.clientDir)) {
    await app.register(fastifyStatic, { root: opts.clientDir, prefix: '/', index: ['index.html'] });
  }
  return app;
}
