import fs from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import type { Logger } from '../log.js';
import { healthRoutes, type HealthOptions } from './health.js';
import { clientConfigRoutes, type WsUrlRequest } from './clientConfig.js';
import { stageNodeRoutes } from './stageNode.js';
import { accessRoutes } from './access.js';
import type { AccessPolicy } from '../auth/access.js';
import { turnRoutes } from './turn.js';
import type { TurnService } from '../turn/service.js';
import type { Metrics } from '../metrics/metrics.js';
import { metricsRoutes } from './metrics.js';
import { ADMIN_SECURITY_SCHEME, adminScope, type AdminOptions } from './admin/index.js';
import { trustFunction, type TrustProxy } from './clientAddress.js';
import { whipRoutes, type WhipRoutesOptions } from './whip.js';

export interface HttpAppOptions {
  log: Logger;
  notReadyReasons: HealthOptions['notReadyReasons'];
  /** The WebSocket URL browsers connect to, given the request of their page. */
  wsUrl: (req: WsUrlRequest) => string;
  /** Built-in TLS: serve HTTPS with this certificate and key. */
  https?: { cert: Buffer; key: Buffer } | undefined;
  /** Capabilities shared by every router (same codec list), published to browsers. */
  routerRtpCapabilities: unknown;
  /** Cluster mode: the live nodes, listed to pages by `GET /api/client-config`. */
  clusterNodes?: (() => Promise<{ wsUrl: string }[]>) | undefined;
  /** Cluster mode: the node holding a room's stage, when another (`GET /api/stage-node`). */
  stageNode?: ((room: string) => Promise<string | undefined>) | undefined;
  /** Who may enter which room: `POST /api/access` explains a refused WebSocket upgrade. */
  access: AccessPolicy;
  /** WHIP ingest and WHEP playback (`/whip/:room`, `/whep/:room`); not served when absent. */
  whip?: Pick<WhipRoutesOptions, 'sessions' | 'ratePerMinute' | 'onRequest'> | undefined;
  /** Folder of the built browser client; not served when absent. */
  clientDir?: string | undefined;
  /** Largest accepted body, bytes. */
  bodyLimit?: number;
  turn: TurnService;
  turnRatePerMinute: number;
  metrics: Metrics;
  metricsToken: string | undefined;
  /** Fastify's trustProxy: which X-Forwarded-For hops are believed. */
  trustProxy: TrustProxy;
  /**
   * The operator scope `/admin/*` (rooms, bans, workers, tokens and, with `probes`,
   * the load-test media tools); not registered at all when undefined (no ADMIN_TOKEN).
   */
  admin?: AdminOptions | undefined;
}

/** Query parameters whose values are credentials. */
const SECRET_PARAMS = /([?&](?:token|access_token|jwt)=)[^&#]*/gi;

/** Headers that carry credentials, wherever a log line holds request or response headers. */
export const REDACTED_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'authorization'];

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/**
 * Fastify's request log fields, with credentials in the URL redacted. Headers are not
 * logged at all (Authorization, Cookie); pino's `redact` below is the second lock.
 */
function serializeRequest(req: { method: string; url: string; host?: string; hostname?: string; ip?: string; socket?: { remotePort?: number } }) {
  return { method: req.method, url: redactUrl(req.url), host: req.host ?? req.hostname, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

/** The HTTP surface: small encapsulated plugins on one Fastify instance. */
export async function buildHttpApp(opts: HttpAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    // Links carry access tokens in their query (?token=JWT): never write them to the log.
    loggerInstance: opts.log.child(
      { component: 'http' },
      { serializers: { req: serializeRequest }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    ) as FastifyBaseLogger,
    // Probes and scrapes would drown the log; everything else is logged per request.
    logController: new LogController({
      disableRequestLogging: (req) => /^\/(health|ready|metrics)\b/.test(req.url),
    }),
    bodyLimit: opts.bodyLimit ?? 64 * 1024,
    // A hop count means "believe the last n proxies" (what proxy-addr does for a number).
    // One rule for HTTP and the WebSocket upgrade (clientAddress.ts).
    trustProxy: opts.trustProxy === false ? false : trustFunction(opts.trustProxy),
  });
  // Before any route: @fastify/swagger collects every route registered after it (with its schema).
  await app.register(fastifySwagger, {
    // Shared schemas (addSchema) appear under components.schemas by their $id, e.g. AdminError.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Fourcast HTTP API',
        version: '1',
        description: 'Control plane of a Fourcast node: health, TURN credentials, Prometheus metrics and (when ADMIN_TOKEN is set) the admin routes.',
      },
      tags: [
        { name: 'admin', description: 'Operator routes; `Authorization: Bearer <ADMIN_TOKEN>`' },
        { name: 'public', description: 'Routes for browsers, balancers and scrapers' },
      ],
      components: {
        securitySchemes: {
          [ADMIN_SECURITY_SCHEME]: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN of the node, as `Authorization: Bearer <ADMIN_TOKEN>`' },
        },
      },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(healthRoutes, { notReadyReasons: opts.notReadyReasons });
  await app.register(clientConfigRoutes, { wsUrl: opts.wsUrl, routerRtpCapabilities: opts.routerRtpCapabilities, clusterNodes: opts.clusterNodes });
  await app.register(stageNodeRoutes, { stageNode: opts.stageNode ?? (async () => undefined) });
  await app.register(accessRoutes, { access: opts.access });
  await app.register(turnRoutes, { service: opts.turn, rateLimit: { max: opts.turnRatePerMinute, windowMs: 60_000 } });
  await app.register(metricsRoutes, { metrics: opts.metrics, token: opts.metricsToken });
  if (opts.whip) {
    await app.register(whipRoutes, { ...opts.whip, access: opts.access, turn: opts.turn, stageNode: opts.stageNode ?? (async () => undefined) });
  }
  if (opts.admin) await app.register(adminScope, opts.admin);
  if (opts.clientDir && fs.existsSync(opts.clientDir)) {
    await app.register(fastifyStatic, { root: opts.clientDir, prefix: '/', index: ['index.html'] });
  }
  return app;
}
