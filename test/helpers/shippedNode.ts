import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { freePortRange } from './ports.js';

/**
 * The product as shipped, for tests that drive it from outside: the built artefact started
 * by `npm start` with the default configuration (only the ports moved off the defaults, plus
 * whatever `env` adds), its output captured, its printed links parsed. Nothing from src/ is
 * imported: what a test sees is what a user gets.
 */
export interface ShippedNode {
  /** `http://127.0.0.1:PORT`: the HTTP side, by address (the printed links say `localhost`). */
  http: string;
  links: { broadcast: string; watch: string };
  /** Everything the node wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM to the whole process group (npm, node, workers), SIGKILL after 20 s. */
  stop(): Promise<void>;
  /** `kill -9` of the process group (a crash): resolves once npm has exited. */
  kill(): Promise<void>;
}

/** Only what a shell gives a person; no test-only settings leak into the server. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'USER'];
  const env: NodeJS.ProcessEnv = {};
  for (const k of keep) if (process.env[k]) env[k] = process.env[k];
  return { ...env, ...extra };
}

/**
 * Starts `npm start` (globalSetup built dist/ first) and waits for its links.
 * `logFile`: the output is also appended there as it arrives (`npm start 2>&1 | tee FILE`).
 */
export async function startShippedNode(opts: { env?: Record<string, string>; logFile?: string; httpPort?: number } = {}): Promise<ShippedNode> {
  // One range for every port of the node: separate picks could land on the same free port
  // (a CI run once had the workers' RTC port equal to the HTTP port: EADDRINUSE at start).
  const base = await freePortRange(2 + os.availableParallelism());
  const [http, ws, rtc] = [opts.httpPort ?? base, base + 1, base + 2];
  const server: ChildProcess = spawn('npm', ['start'], {
    env: userEnv({ HTTP_PORT: String(http), WS_PORT: String(ws), RTC_PORT_BASE: String(rtc), ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: npm, node and the workers stop together
  });
  let out = '';
  const take = (d: Buffer) => {
    out += d.toString();
    if (!opts.logFile) return;
    try {
      fs.appendFileSync(opts.logFile, d);
    } catch {
      // The test removed the log's folder after stopping the node: the tail goes to `output()` only.
    }
  };
  // 'exit' can come before the last output is read; 'close' comes once stdout and stderr are drained.
  const closed = new Promise<void>((r) => server.once('close', () => r()));
  server.stdout!.on('data', take);
  server.stderr!.on('data', take);

  const stop = async () => {
    if (!server.pid || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((r) => server.once('exit', r));
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      return; // already gone
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (server.exitCode === null && server.signalCode === null) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
  };

  try {
    const links = await new Promise<ShippedNode['links']>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no links printed within 60 s:\n${out}`)), 60_000);
      const check = () => {
        const broadcast = /(https?:\/\/\S+\/broadcast\.html\S*)/.exec(out)?.[1];
        const watch = /(https?:\/\/\S+\/watch\.html\S*)/.exec(out)?.[1];
        if (broadcast && watch) {
          clearTimeout(timer);
          resolve({ broadcast, watch });
        }
      };
      server.stdout!.on('data', check);
      server.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited with ${code}:\n${out}`));
      });
    });
    const kill = async () => {
      if (!server.pid || server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((r) => server.once('exit', r));
      process.kill(-server.pid, 'SIGKILL');
      await exited;
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
    };
    return { http: `http://127.0.0.1:${http}`, links, output: () => out, stop, kill };
  } catch (err) {
    await stop();
    throw err;
  }
}
