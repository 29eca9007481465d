import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import * as mediasoup from 'mediasoup';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePortRange } from './helpers/ports.js';
import { TestClient } from './helpers/wsClient.js';
import { TokenService } from '../src/auth/tokens.js';

// Ctrl-C, `timeout` and a closing terminal signal the whole foreground process group;
// systemd's default KillMode=control-group signals every process of the unit's cgroup.
// The existing drain test signals the Node process alone, so it cannot see what happens
// to the mediasoup workers then. These tests run the real server as the leader of its own
// process group (detached) and signal it the way those tools do.

const root = new URL('..', import.meta.url).pathname;
const SECRET = 'drain-group-secret-drain-group-secret-01';
const WORKERS = 2;
const GRACE_MS = 2000;

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface ProcInfo {
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
}

/** /proc/<pid>/stat, or undefined when there is no such process. */
function proc(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) S ppid pgrp session ...": comm may hold spaces and parentheses.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: f[0]!, ppid: Number(f[1]), pgrp: Number(f[2]), session: Number(f[3]) };
}

/** Running (or sleeping): exists and is not a zombie. An exited process that nobody reaped yet counts as gone. */
const running = (pid: number): boolean => {
  const p = proc(pid);
  return p !== undefined && p.state !== 'Z' && p.state !== 'X';
};

interface LogLine {
  msg: string;
  pid?: number;
  worker?: number;
  level?: number;
}

class Server {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private constructor(
    readonly child: ChildProcess,
    readonly http: string,
    readonly ws: string,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The real server (src/main.ts), leader of its own process group, as a shell or systemd starts it. */
  static async start(): Promise<Server> {
    const ports = new Set<number>();
    while (ports.size < 2) ports.add(await freePortRange(1));
    const [httpPort, wsPort] = [...ports] as [number, number];
    let rtcBase = await freePortRange(WORKERS);
    while (ports.has(rtcBase) || ports.has(rtcBase + 1)) rtcBase = await freePortRange(WORKERS);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      detached: true, // its own process group, so process.kill(-pid) reaches exactly what a terminal's Ctrl-C reaches
      env: {
        ...process.env,
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
        WS_HOST: '127.0.0.1',
        WS_PORT: String(wsPort),
        RTC_LISTEN_IP: '127.0.0.1',
        RTC_PORT_BASE: String(rtcBase),
        MEDIASOUP_WORKERS: String(WORKERS),
        DRAIN_GRACE_SECONDS: String(GRACE_MS / 1000),
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
        TOKEN_SECRET: SECRET,
        STUN_URLS: 'stun:127.0.0.1:9',
        ADMIN_TOKEN: '',
        METRICS_TOKEN: undefined, // /metrics open for the scrape
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new Server(child, `http://127.0.0.1:${httpPort}`, `ws://127.0.0.1:${wsPort}/ws`);
    let gone = false;
    void server.exited.then(() => (gone = true));
    const up = await until('/health', async () => (gone ? 'exited' : (await fetch(`${server.http}/health`)).ok ? 'up' : undefined)).catch((err: Error) => {
      throw new Error(`${err.message}; server output:\n${server.output}`);
    });
    if (up === 'exited') throw new Error(`the server exited during startup:\n${server.output}`);
    return server;
  }

  lines(): LogLine[] {
    return this.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  }

  /** Pids the pool logged for its workers ('mediasoup worker ready'). */
  workerPids(): number[] {
    return this.lines()
      .filter((l) => l.msg === 'mediasoup worker ready')
      .map((l) => l.pid!);
  }

  async deaths(): Promise<number> {
    const text = await (await fetch(`${this.http}/metrics`)).text();
    const m = /^fourcast_worker_deaths_total(?:\{[^}]*\})? (\S+)$/m.exec(text);
    if (!m) throw new Error(`fourcast_worker_deaths_total not in /metrics:\n${text}`);
    return Number(m[1]);
  }
}

/** Each worker is the real mediasoup-worker binary, a child of the node, in a session (and group) of its own. */
function expectIsolatedWorkers(server: Server): number[] {
  const pids = server.workerPids();
  expect(pids, server.output).toHaveLength(WORKERS);
  const realBin = fs.realpathSync(mediasoup.workerBin);
  for (const pid of pids) {
    expect(fs.readlinkSync(`/proc/${pid}/exe`)).toBe(realBin); // the pid mediasoup reports is the worker itself, not a wrapper
    const p = proc(pid)!;
    expect(p.ppid).toBe(server.pid);
    expect(p.session).toBe(pid);
    expect(p.pgrp).toBe(pid);
    expect(p.pgrp).not.toBe(server.pid);
  }
  return pids;
}

describe('signals to the whole service reach the node, not its workers (src/main.ts)', () => {
  let server: Server | undefined;
  const clients: TestClient[] = [];
  const cleanup = () => {
    for (const c of clients.splice(0)) c.close();
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    server = undefined;
  };
  afterEach(cleanup);
  afterAll(cleanup);

  const cases: { name: string; send: (s: Server, workers: number[]) => void }[] = [
    { name: 'SIGINT to the process group (Ctrl-C in a terminal)', send: (s) => process.kill(-s.pid, 'SIGINT') },
    { name: 'SIGTERM to the process group (timeout, kill -- -PGID)', send: (s) => process.kill(-s.pid, 'SIGTERM') },
    {
      name: 'SIGTERM to every process of the service (systemd KillMode=control-group)',
      send: (s, workers) => {
        for (const pid of [s.pid, ...workers]) process.kill(pid, 'SIGTERM');
      },
    },
  ];

  it.each(cases)('$name: clients are told, no worker dies during the grace, exit 0 with the workers gone', async ({ send }) => {
    server = await Server.start();
    const s = server;
    const workers = expectIsolatedWorkers(s);
    expect(await s.deaths()).toBe(0);

    // A participant in a room, with a WebRTC transport on a worker: what a worker death would reset.
    // A broadcaster's link (not on stage): an anonymous viewer gets no transport while nobody broadcasts.
    const token = await new TokenService(SECRET).mint({ role: 'publisher', room: 'group-room', name: 'Gina', ttlSeconds: 600 });
    const viewer = await TestClient.connect(`${s.ws}?room=group-room&token=${token}`);
    clients.push(viewer);
    await viewer.request('join', {});
    await viewer.request('createTransport', { direction: 'recv' });

    send(s, workers);
    const sentAt = Date.now();
    const note = await viewer.waitFor('draining', () => true, 5_000);
    expect(note.retryAfterMs).toBe(GRACE_MS);

    // Through the grace period: every worker keeps running, nothing is counted or replaced,
    // /ready names only the drain (a dead worker would add "mediasoup worker(s) down").
    let samples = 0;
    while (Date.now() - sentAt < GRACE_MS - 400) {
      expect(workers.filter((pid) => !running(pid)), `workers not running ${Date.now() - sentAt} ms after the signal`).toEqual([]);
      expect(await s.deaths()).toBe(0);
      const ready = await fetch(`${s.http}/ready`);
      expect(await ready.json()).toEqual({ status: 'not-ready', reasons: ['draining'] });
      samples++;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(samples).toBeGreaterThanOrEqual(3);
    // Sampled at least 1.2 s after the signal: a worker that got the signal exits within ~0.2 s.
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(GRACE_MS - 400);
    expect(viewer.notifications.filter((n) => n.method === 'mediaReset')).toEqual([]);

    // After the grace: the node closes everything, exits 0, and leaves no worker behind.
    expect((await viewer.closed).code).toBe(4000);
    const end = await s.exited;
    expect(end, s.output).toEqual({ code: 0, signal: null });
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(GRACE_MS);
    // The node waited for its workers (and reaped them) before exiting: not even zombies remain.
    expect(workers.filter((pid) => proc(pid) !== undefined)).toEqual([]);

    const msgs = s.lines().map((l) => l.msg);
    expect(msgs).toEqual(expect.arrayContaining(['draining before shutdown', 'draining: refusing new joins, telling clients']));
    expect(msgs.filter((m) => /died|replac/i.test(m)), s.output).toEqual([]);
    expect(msgs.filter((m) => m === 'mediasoup worker ready')).toHaveLength(WORKERS); // none respawned
    expect(s.output).not.toMatch(/second signal/);
  });

  it('SIGKILL of the node (and its group): the workers notice their channel closing and exit by themselves', async () => {
    server = await Server.start();
    const s = server;
    const workers = expectIsolatedWorkers(s);
    expect(workers.every(running)).toBe(true);

    process.kill(-s.pid, 'SIGKILL');
    expect(await s.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // Outside the group, the workers did not get the SIGKILL; the closed pipes end them.
    const start = Date.now();
    await until('orphaned workers to exit', () => (workers.every((pid) => !running(pid)) ? true : undefined), 5_000).catch((err: Error) => {
      const left = workers.filter(running);
      for (const pid of left) process.kill(pid, 'SIGKILL');
      throw new Error(`${err.message}: still running ${left.join(', ')}`);
    });
    expect(Date.now() - start).toBeLessThan(3_000);
  });
});
