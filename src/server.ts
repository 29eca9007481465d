import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/index.js';
import type { Logger } from './log.js';
import { TokenService } from './auth/tokens.js';
import { WorkerPool } from './media/workerPool.js';
import { buildHttpApp } from './http/app.js';
import { loadUws, type TemplatedApp, type us_listen_socket } from './signaling/uws.js';
import { closeUws, listenUws } from './signaling/listener.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/client next to dist/server, or <repo>/dist/client when run from src with tsx. */
export const defaultClientDir = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../client' : '../dist/client');

export interface Fourcast {
  readonly config: Config;
  readonly log: Logger;
  readonly pool: WorkerPool;
  readonly tokens: TokenService;
  readonly http: FastifyInstance;
  readonly ws: TemplatedApp;
  /** Where people and browsers reach this node. */
  readonly urls: { http: string; ws: string };
  close(): Promise<void>;
}

/**
 * Starts a node: checks the native parts first (uWS, mediasoup worker), then
 * the worker pool, the WebSocket server and the HTTP server. Anything that
 * fails is torn down before the error propagates.
 */
export async function startFourcast(config: Config, log: Logger): Promise<Fourcast> {
  const uws = loadUws();
  const tokens = new TokenService(config.auth.tokenSecret);
  const pool = await WorkerPool.create({
    count: config.media.workers,
    logLevel: config.media.logLevel,
    listenIp: config.media.listenIp,
    announcedAddress: config.media.announcedAddress,
    portBase: config.media.portBase,
    log: log.child({ component: 'media' }),
  });

  let listenSocket: us_listen_socket | undefined;
  let http: FastifyInstance | undefined;
  try {
    const ws = uws.App();
    ws.any('/*', (res) => {
      res.writeStatus('404 Not Found').end('Fourcast WebSocket endpoint is /ws');
    });
    const bound = await listenUws(ws, config.ws.host, config.ws.port);
    listenSocket = bound.socket;

    http = await buildHttpApp({
      log,
      clientDir: defaultClientDir,
      notReadyReasons: () => {
        const reasons: string[] = [];
        const alive = pool.workers.filter((w) => !w.closed).length;
        if (alive < pool.workers.length) reasons.push(`${pool.workers.length - alive} mediasoup worker(s) down`);
        return reasons;
      },
    });
    const address = await http.listen({ host: config.http.host, port: config.http.port });
    const httpPort = Number(new URL(address).port);
    const httpUrl = config.http.publicUrl ?? `http://localhost:${httpPort}`;
    const wsUrl = config.ws.publicUrl ?? `${new URL(httpUrl).protocol === 'https:' ? 'wss' : 'ws'}://${new URL(httpUrl).hostname}:${bound.port}/ws`;

    const httpApp = http;
    const socket = listenSocket;
    let closing: Promise<void> | undefined;
    return {
      config,
      log,
      pool,
      tokens,
      http: httpApp,
      ws,
      urls: { http: httpUrl, ws: wsUrl },
      close() {
        closing ??= (async () => {
          closeUws(socket);
          await httpApp.close();
          pool.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    if (listenSocket) closeUws(listenSocket);
    await http?.close();
    pool.close();
    throw err;
  }
}
