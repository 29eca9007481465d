import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePortRange } from './ports.js';

// A real redis-server of the test's own on 127.0.0.1 and a free port: no persistence, no
// shared state, never the machine's 6379. `restart()` brings it back on the same port,
// empty (as a Redis without persistence comes back after a crash).

export interface TestRedis {
  url: string;
  port: number;
  /** The running server's process id (SIGSTOP it to play a Redis that is up but stuck). */
  readonly pid: number | undefined;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s) and removes its folder. Idempotent; start() may follow. */
  stop(): Promise<void>;
  /** Stops it if it runs, then starts a new, empty one on the same port. */
  restart(): Promise<void>;
  /** Starts it again after stop() on the same port (what restart() does in two steps). */
  start(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const bin = process.env.REDIS_SERVER ?? 'redis-server';
  const port = await freePortRange(1);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fourcast-redis-'));
  let proc: ChildProcess | undefined;
  let output = '';

  const start = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) return;
    output = '';
    await fs.mkdir(dir, { recursive: true });
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    const collect = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
    p.stdout?.on('data', collect);
    p.stderr?.on('data', collect);
    const spawnError = new Promise<Error>((resolve) => p.once('error', resolve));
    const exited = () => p.exitCode !== null || p.signalCode !== null;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const err = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
      if (err) {
        throw new Error(`cannot run ${bin} (${err.message}): install Redis (bash scripts/setup.sh --test installs Debian's redis-server) or set REDIS_SERVER to its path`);
      }
      if (exited()) throw new Error(`redis-server exited at start on 127.0.0.1:${port}: ${output}`);
      if (await ping(port)) return;
      if (Date.now() > deadline) {
        await stopProcess(p);
        throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} within 10 s: ${output}`);
      }
    }
  };
  const stop = async () => {
    if (proc) await stopProcess(proc);
  };

  try {
    await start();
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    get pid() {
      return proc?.pid;
    },
    start,
    stop: async () => {
      await stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stop();
      await start();
    },
  };
}

/** One PING over a raw socket: true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      data += d.toString();
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

function stopProcess(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const kill = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}
