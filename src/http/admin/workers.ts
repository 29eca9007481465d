import type { FastifyPluginAsync } from 'fastify';
import type { WorkerPool } from '../../media/workerPool.js';
import { describeWorkerBinary, type WorkerBinaryInfo } from '../../media/workerBinary.js';
import { withTimeout } from '../../media/timeout.js';
import { errors, route } from './schemas.js';

/**
 * How long `GET /admin/workers` waits for each worker's answer. A healthy worker
 * answers getResourceUsage in about a millisecond; one that is stopped (SIGSTOP)
 * or saturated would otherwise hold the request for mediasoup's channel timeout
 * (15 s and more) or forever. Shorter than MEDIA_REQUEST_TIMEOUT_MS: an operator
 * looking at this route wants to see which worker is stuck, not wait behind it.
 */
export const WORKER_ANSWER_TIMEOUT_MS = 1000;

export interface WorkerRoutesOptions {
  pool: Pick<WorkerPool, 'workers' | 'budgetUsed'>;
  /**
   * The mediasoup-worker binary the pool runs; called per request. Defaults to
   * `describeWorkerBinary()` (media/workerBinary.ts: mediasoup's binary and its origin record).
   */
  workerBinary?: (() => WorkerBinaryInfo | Promise<WorkerBinaryInfo>) | undefined;
  /** How long to wait for each worker; default WORKER_ANSWER_TIMEOUT_MS. */
  answerTimeoutMs?: number | undefined;
}

const workerStats = {
  type: 'object',
  properties: {
    index: { type: 'integer' },
    pid: { type: 'integer' },
    port: { type: 'integer', description: 'UDP and TCP port of the worker’s WebRtcServer' },
    up: { type: 'boolean' },
    responding: {
      type: 'boolean',
      description: `The worker answered this request within ${WORKER_ANSWER_TIMEOUT_MS} ms; false when it is down, stopped or saturated (then resourceUsage is null)`,
    },
    consumers: { type: 'integer' },
    routers: { type: 'integer' },
    transports: { type: 'integer', description: 'WebRTC transports' },
    cpu: { type: 'number', description: 'Share of one core over the last sample (0..1+)' },
    viewers: { type: 'integer', description: 'Receivers placed on the worker (viewers, broadcasters watching co-hosts, edge pipes), each reserving VIEWER_PACKET_RATE' },
    packetBudget: { type: 'number', description: 'Share of WORKER_MAX_PACKET_RATE the placed receivers reserve (0..1; above 1 only through broadcasters placed past it)' },
    busy: { type: 'boolean', description: 'The worker missed its last health sample while using its core (saturated, not wedged)' },
    resourceUsage: {
      type: 'object',
      nullable: true,
      description: 'getrusage() of the worker process (mediasoup units); null when the worker is down or not responding',
      properties: {
        ru_utime: { type: 'number', description: 'User CPU time, ms' },
        ru_stime: { type: 'number', description: 'System CPU time, ms' },
        ru_maxrss: { type: 'number', description: 'Peak resident set size, KiB' },
      },
      required: ['ru_utime', 'ru_stime', 'ru_maxrss'],
    },
  },
  required: ['index', 'pid', 'port', 'up', 'responding', 'consumers', 'routers', 'transports', 'cpu', 'viewers', 'packetBudget', 'busy', 'resourceUsage'],
} as const;

const workerBinary = {
  type: 'object',
  description: 'The mediasoup-worker binary every worker of this node runs, and where it came from (scripts/mediasoup-worker/build.sh records it next to the binary)',
  properties: {
    path: { type: 'string', description: 'Binary mediasoup spawns (MEDIASOUP_WORKER_BIN, else node_modules/mediasoup/worker/out/Release/mediasoup-worker)' },
    origin: {
      type: 'string',
      enum: ['prebuilt', 'source', 'unknown'],
      description: 'prebuilt: upstream mediasoup download; source: built here against Debian libraries; unknown: no origin record, or one for another file',
    },
    mediasoupVersion: { type: 'string', description: 'mediasoup version the binary was obtained for (the installed package version when the origin is unknown)' },
    sha256: { type: 'string', description: 'sha256 of the binary file; absent when it cannot be read' },
    cacheKey: { type: 'string', description: 'Worker cache entry it was installed from' },
  },
  required: ['path', 'origin', 'mediasoupVersion'],
} as const;

/** `GET /admin/workers`: answers within about `answerTimeoutMs` whatever state the workers are in. */
export const workerRoutes: FastifyPluginAsync<WorkerRoutesOptions> = async (app, opts) => {
  const { pool } = opts;
  const binaryInfo = opts.workerBinary ?? (() => describeWorkerBinary());
  const timeoutMs = opts.answerTimeoutMs ?? WORKER_ANSWER_TIMEOUT_MS;

  app.get(
    '/admin/workers',
    route('mediasoup workers: load, whether each answers, resource usage, and the worker binary they run', {
      response: {
        200: { type: 'object', properties: { workers: { type: 'array', items: workerStats }, binary: workerBinary }, required: ['workers', 'binary'] },
        ...errors,
      },
    }),
    async (req) => ({
      binary: await binaryInfo(),
      workers: await Promise.all(
        pool.workers.map(async (w) => {
          // A dead worker is not asked; a stuck one is given up on (its late answer is dropped).
          const ru = w.closed
            ? null
            : await withTimeout(w.worker.getResourceUsage(), timeoutMs, `worker ${w.index} getResourceUsage`).catch((err: unknown) => {
                req.log.warn({ worker: w.index, pid: w.pid, err }, 'admin: worker did not answer');
                return null;
              });
          return {
            index: w.index,
            pid: w.pid,
            port: w.port,
            up: !w.closed,
            responding: ru !== null,
            consumers: w.consumers,
            routers: w.routers,
            transports: w.transports,
            cpu: w.cpu,
            viewers: w.viewers,
            packetBudget: pool.budgetUsed(w),
            busy: w.busy,
            resourceUsage: ru && { ru_utime: ru.ru_utime, ru_stime: ru.ru_stime, ru_maxrss: ru.ru_maxrss },
          };
        }),
      ),
    }),
  );
};
