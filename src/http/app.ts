import fs from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Logger } from '../log.js';
import { healthRoutes, type HealthOptions } from './health.js';
import { clientConfigRoutes } from './clientConfig.js';

export interface HttpAppOptions {
  log: Logger;
  notReadyReasons: HealthOptions['notReadyReasons'];
  /** The WebSocket URL browsers connect to, given the host they loaded the page from. */
  wsUrl: (requestHost: string, secure: boolean) => string;
  /** Folder of the built browser client; not served when absent. */
  clientDir?: string | undefined;
  /** Extra bytes allowed in a JSON body. */
  bodyLimit?: number;
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
    trustProxy: true,
  });
  await app.register(healthRoutes, { notReadyReasons: opts.notReadyReasons });
  await app.register(clientConfigRoutes, { wsUrl: opts.wsUrl });
  if (opts.clientDir && fs.existsSync(opts.clientDir)) {
    await app.register(fastifyStatic, { root: opts.clientDir, prefix: '/', index: ['index.html'] });
  }
  return app;
}
