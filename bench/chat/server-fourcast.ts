/**
 * Child process: one whole Fourcast node on 127.0.0.1, started the way
 * test/helpers/server.ts starts one (free ports, one mediasoup worker), with
 * the chat limits raised by the orchestrator through the environment. Logs at
 * `warn` and above go to stderr as JSON lines, which the orchestrator counts.
 */
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { startFourcast } from '../../src/server.js';
import { freePortRange } from '../../test/helpers/ports.js';
import { exitWithParent, openFileLimit, toParent, type ToServer } from './shared.js';

exitWithParent();
const log = pino({ level: process.env.BENCH_SERVER_LOG_LEVEL ?? 'warn', base: undefined }, pino.destination(2));

async function main(): Promise<void> {
  const workers = Number(process.env.MEDIASOUP_WORKERS ?? 1);
  const config = loadConfig({
    ...process.env,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    WS_HOST: '127.0.0.1',
    WS_PORT: '0',
    RTC_LISTEN_IP: '127.0.0.1',
    RTC_PORT_BASE: String(await freePortRange(workers)),
    MEDIASOUP_WORKERS: String(workers),
    LOG_FORMAT: 'json',
    ROOM_GRACE_SECONDS: '1',
    DRAIN_GRACE_SECONDS: '1',
    STUN_URLS: 'stun:127.0.0.1:9',
  });
  const node = await startFourcast(config, log, { clientDir: null });
  const ws = node.urls.ws.replace('localhost', '127.0.0.1');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const hard = setTimeout(() => process.exit(0), 3000);
    void node.close().finally(() => {
      clearTimeout(hard);
      process.exit(0);
    });
  };
  // Orchestrator gone: no graceful close (a process.exit() here can hang in tsx's loader thread);
  // kill the mediasoup workers and this process outright.
  exitWithParent(() => {
    for (const w of node.pool.workers) {
      try {
        process.kill(w.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.kill(process.pid, 'SIGKILL');
  });
  process.on('message', (m: ToServer) => {
    if (m.type === 'gc') {
      globalThis.gc?.();
      toParent({ type: 'gcDone', heapUsed: process.memoryUsage().heapUsed });
    } else if (m.type === 'stop') stop();
  });
  process.on('SIGTERM', stop);
  toParent({
    type: 'ready',
    url: ws,
    pid: process.pid,
    nofile: openFileLimit(),
    detail: { mediasoupWorkerPids: node.pool.workers.map((w) => w.pid), chat: config.chat, wsRequestsPerSecond: config.wsRequestsPerSecond },
  });
}

main().catch((err: unknown) => {
  toParent({ type: 'fatal', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
});
