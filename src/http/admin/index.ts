import type { FastifyError, FastifyPluginAsync } from 'fastify';
import type { RoomManager } from '../../rooms/roomManager.js';
import type { WorkerPool } from '../../media/workerPool.js';
import type { TokenService } from '../../auth/tokens.js';
import { ProtocolError } from '../../protocol/messages.js';
import { bearerChecker } from '../bearer.js';
import { errorSchema } from './schemas.js';
import { roomRoutes } from './rooms.js';
import { banRoutes } from './bans.js';
import { workerRoutes, type WorkerRoutesOptions } from './workers.js';
import { tokenRoutes, type TokenRoutesOptions } from './tokens.js';
import { mediaToolsRoutes, type MediaToolsOptions } from './mediaTools.js';
import { clusterRoutes, type ClusterRoutesOptions } from './cluster.js';
import { stageRoutes } from './stage.js';
import { callRoutes } from './calls.js';
import { mediaSessionRoutes, type MediaSessionRoutesOptions } from './mediaSessions.js';
import { recordingRoutes, type RecordingRoutesOptions } from './recording.js';

export { ADMIN_SECURITY_SCHEME } from './schemas.js';

export interface AdminOptions {
  /** The operator's bearer token (ADMIN_TOKEN). */
  token: string;
  rooms: Pick<RoomManager, 'rooms' | 'get' | 'bans'>;
  pool: Pick<WorkerPool, 'workers' | 'budgetUsed'>;
  tokens: Pick<TokenService, 'mint' | 'verify'>;
  /** Base URL people open, for the links of minted tokens; defaults to the request's own origin. */
  publicUrl?: TokenRoutesOptions['publicUrl'];
  /** The mediasoup-worker binary the pool runs, for `GET /admin/workers`; default `describeWorkerBinary()`. */
  workerBinary?: WorkerRoutesOptions['workerBinary'];
  /** This node's cluster membership (REDIS_URL); absent when it runs alone. */
  cluster?: ClusterRoutesOptions['cluster'];
  /** WHIP and WHEP sessions (`/admin/whip`); not registered when absent. */
  mediaSessions?: MediaSessionRoutesOptions['sessions'] | undefined;
  /** Load-test media tools (`/admin/rooms/:room/{ingest,probes}`); not registered when absent. */
  probes?: MediaToolsOptions['probes'] | undefined;
  /** Room recordings (`/admin/rooms/:room/recording`, `/admin/recordings`); not registered when absent. */
  recordings?: RecordingRoutesOptions['recordings'] | undefined;
}

// A media server that is full or not answering is the server's state, not a conflict with the request.
const STATUS_BY_CODE: Partial<Record<ProtocolError['code'], number>> = { 'not-found': 404, forbidden: 403, 'bad-request': 400, 'server-busy': 503, 'media-unavailable': 503, unavailable: 503 };

/** Body parser refusals (empty or invalid JSON, wrong content type, too large) by status. */
const CLIENT_ERROR: Record<number, string> = { 400: 'bad-request', 413: 'too-large', 415: 'unsupported-media-type' };

/**
 * The operator scope: every `/admin/*` route, behind `Authorization: Bearer
 * <ADMIN_TOKEN>`. Registered with full paths: use no prefix. Encapsulated, so
 * its hook, error mapping and shared schemas apply to its own routes only. The
 * token is checked in `onRequest`, before any body is read, so an unauthorised
 * call changes nothing.
 */
export const adminScope: FastifyPluginAsync<AdminOptions> = async (app, opts) => {
  const authorised = bearerChecker(opts.token, 'admin token');

  app.addSchema(errorSchema);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    if (authorised(req.headers.authorization)) return;
    reply.header('www-authenticate', 'Bearer realm="admin"');
    return reply.code(401).send({ error: 'unauthorized', message: `${req.method} ${req.routeOptions.url ?? req.url} needs Authorization: Bearer <ADMIN_TOKEN>.` });
  });

  app.setErrorHandler((err: FastifyError | ProtocolError, req, reply) => {
    if (err instanceof ProtocolError) {
      return reply.code(STATUS_BY_CODE[err.code] ?? 409).send({ error: err.code, message: err.message });
    }
    if (err.validation) {
      return reply.code(400).send({ error: 'bad-request', message: err.message });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send({ error: CLIENT_ERROR[status] ?? 'refused', message: err.message });
    }
    req.log.error({ err }, 'admin route failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error; see the server log' });
  });

  await app.register(roomRoutes, { rooms: opts.rooms });
  await app.register(stageRoutes, { rooms: opts.rooms });
  await app.register(callRoutes, { rooms: opts.rooms });
  await app.register(banRoutes, { bans: opts.rooms.bans });
  await app.register(workerRoutes, { pool: opts.pool, workerBinary: opts.workerBinary });
  await app.register(tokenRoutes, { tokens: opts.tokens, publicUrl: opts.publicUrl });
  await app.register(clusterRoutes, { cluster: opts.cluster });
  if (opts.mediaSessions) await app.register(mediaSessionRoutes, { sessions: opts.mediaSessions });
  if (opts.probes) await app.register(mediaToolsRoutes, { probes: opts.probes });
  if (opts.recordings) await app.register(recordingRoutes, { recordings: opts.recordings });
};
