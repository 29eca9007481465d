/**
 * `npm run bench:chat`: chat fan-out throughput of Fourcast against a bare
 * uWebSockets.js topic server (the ceiling) and a socket.io 4 room server,
 * with N WebSocket viewers in one room and S senders at a fixed total rate.
 *
 * Every server runs in its own child process (so its RSS and CPU come from
 * /proc/<pid> alone) and the viewers live in separate load-generator
 * children. Results go to bench-results/chat.json and bench-results/chat.md.
 * See bench/chat/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TokenService } from '../../src/auth/tokens.js';
import { alive, processCpuUs, processRssBytes, systemCpu, ticksPerSecond } from './proc.js';
import { renderMarkdown, type PhaseReport, type PointReport, type RatioReport, type RunReport } from './report.js';
import { ROOM, openFileLimit, type ConnectResult, type FromGenerator, type FromServer, type PhaseResult, type ServerKind, type ToGenerator, type ToServer } from './shared.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const outDir = path.join(repo, 'bench-results');

// ---- settings (environment) -------------------------------------------------------

function num(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return v;
}

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const kinds = list('BENCH_CHAT_SERVERS', 'fourcast,fourcast-2,uws,socketio') as ServerKind[];
for (const k of kinds) if (!['fourcast', 'fourcast-2', 'uws', 'socketio'].includes(k)) throw new Error(`BENCH_CHAT_SERVERS: unknown server "${k}"`);

const settings = {
  ns: list('BENCH_CHAT_N', '1000,5000').map(Number),
  servers: kinds,
  senders: num('BENCH_CHAT_SENDERS', 10),
  durationMs: num('BENCH_CHAT_DURATION', 10) * 1000,
  graceMs: num('BENCH_CHAT_GRACE', 2) * 1000,
  /** Fixed send rate (msg/s, all senders together) for every N; unset: BASE_DELIVERIES / N. */
  rate: process.env.BENCH_CHAT_RATE ? num('BENCH_CHAT_RATE', 0) : undefined,
  overloadRate: process.env.BENCH_CHAT_OVERLOAD_RATE ? num('BENCH_CHAT_OVERLOAD_RATE', 0) : undefined,
  /** Deliveries per second the base rate aims at (rate = this / N) when BENCH_CHAT_RATE is unset. */
  baseDeliveries: num('BENCH_CHAT_BASE_DELIVERIES', 20_000),
  overloadDeliveries: num('BENCH_CHAT_OVERLOAD_DELIVERIES', 300_000),
  generators: Math.max(1, Math.round(num('BENCH_CHAT_GENERATORS', 2))),
  batch: Math.max(1, Math.round(num('BENCH_CHAT_BATCH', 250))),
  /** About this many viewers record latency; all of them count deliveries. */
  latencyViewers: Math.max(1, Math.round(num('BENCH_CHAT_LATENCY_VIEWERS', 100))),
  connectTimeoutMs: num('BENCH_CHAT_CONNECT_TIMEOUT', 20) * 1000,
  /** The whole run is killed past this. */
  maxRunMs: num('BENCH_CHAT_MAX_MINUTES', 15) * 60_000,
  cpuProfile: process.env.BENCH_CHAT_CPU_PROFILE === '1',
  /** Before each point, wait up to this long for the machine to be quiet (others' work below 0.25 cores). */
  quietWaitMs: num('BENCH_CHAT_QUIET_WAIT', 10) * 1000,
  /** Idle CPU is measured this long before and after connecting (kernel ticks are 10 ms: ±0.007 cores at 1.5 s). */
  idleMs: num('BENCH_CHAT_IDLE_SECONDS', 1.5) * 1000,
};

const TOKEN_SECRET = 'bench-secret-bench-secret-bench-secret-0123';
const fourcastEnv: Record<string, string> = {
  TOKEN_SECRET,
  MEDIASOUP_WORKERS: '1',
  ALLOW_ANONYMOUS_VIEWERS: 'true',
  CHAT_RATE_PER_SECOND: '1000',
  CHAT_BURST: '1000',
  WS_REQUESTS_PER_SECOND: '100000',
  // Every bench client comes from 127.0.0.1: one very busy address (the per-address limits are for the internet).
  WS_MAX_CONNECTIONS_PER_ADDRESS: '100000',
  CHAT_ADDRESS_RATE_PER_SECOND: '10000',
  CHAT_ADDRESS_BURST: '10000',
  NODE_ENV: 'production',
};

function ratesFor(n: number): { base: number; overload: number } {
  const round = (v: number) => Math.max(1, Math.round(v * 10) / 10);
  return {
    base: settings.rate ?? round(settings.baseDeliveries / n),
    overload: settings.overloadRate ?? round(settings.overloadDeliveries / n),
  };
}

// ---- child processes ----------------------------------------------------------------

const children = new Set<ChildProcess>();
/** Processes our children started (mediasoup workers): killed by pid at the end too. */
const grandchildren = new Set<number>();

function killEverything(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of grandchildren) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

process.on('exit', killEverything);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    killEverything();
    process.exit(130);
  });
}

const tsxLoader = import.meta.resolve('tsx');

interface LogTail {
  lines: string[];
  /** Fourcast's JSON log lines (warn and above), counted by message. */
  counts: Record<string, number>;
}

/**
 * Starts `script` under Node with tsx, --expose-gc and an IPC channel, through
 * `sh -c 'ulimit -n …'` so the open-file limit can be raised up to the hard
 * limit for processes holding thousands of sockets.
 */
function startChild(script: string, files: number, env: Record<string, string> = {}, nodeArgs: string[] = []): { child: ChildProcess; log: LogTail } {
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      // Raise (never lower) the soft open-file limit to what this child needs, up to the hard limit.
      'cur=$(ulimit -n); if [ "$cur" != unlimited ] && [ "$cur" -lt "$1" ]; then ulimit -n "$1" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; fi; shift; exec "$@"',
      'sh',
      String(files),
      process.execPath,
      '--expose-gc',
      ...nodeArgs,
      '--import',
      tsxLoader,
      path.join(here, script),
    ],
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } },
  );
  children.add(child);
  child.once('exit', () => children.delete(child));
  const log: LogTail = { lines: [], counts: {} };
  const take = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      if (log.lines.length < 200) log.lines.push(line.slice(0, 500));
      try {
        const j = JSON.parse(line) as { level?: number; msg?: string };
        if (typeof j.level === 'number') {
          const key = `${j.level >= 50 ? 'error' : j.level >= 40 ? 'warn' : 'info'}: ${j.msg ?? '?'}`;
          log.counts[key] = (log.counts[key] ?? 0) + 1;
        }
      } catch {
        log.counts['(non-JSON output)'] = (log.counts['(non-JSON output)'] ?? 0) + 1;
      }
    }
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return { child, log };
}

/** The next IPC message accepted by `pick`; rejects on timeout, `fatal`, or exit. */
function nextMessage<T>(child: ChildProcess, what: string, timeoutMs: number, pick: (m: FromServer | FromGenerator) => T | undefined, log?: LogTail): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, value?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onMessage = (m: FromServer | FromGenerator) => {
      if (m.type === 'fatal') return done(new Error(`${what}: child failed: ${m.message}`));
      const v = pick(m);
      if (v !== undefined) done(undefined, v);
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`${what}: child exited (${code ?? signal})${log ? `; last output:\n${log.lines.slice(-15).join('\n')}` : ''}`));
    const timer = setTimeout(() => done(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Children that had to be SIGKILLed because they did not exit within 3 s of `stop`. */
const killedAfterStop: string[] = [];

async function stopChild(child: ChildProcess, msg: ToServer | ToGenerator, what: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    if (child.connected) child.send(msg);
  } catch {
    // channel already closed
  }
  const timer = setTimeout(() => {
    killedAfterStop.push(what);
    child.kill('SIGKILL');
  }, 3000);
  await exited;
  clearTimeout(timer);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

// ---- one point: one server, one N --------------------------------------------------------

const serverScripts: Record<ServerKind, string> = { fourcast: 'server-fourcast.ts', 'fourcast-2': 'server-fourcast.ts', uws: 'server-uws.ts', socketio: 'server-socketio.ts' };

/** A redis-server of the bench's own on 127.0.0.1 and a free port (no persistence), for `fourcast-2`. */
async function startRedisChild(): Promise<{ url: string; child: ChildProcess }> {
  const { freePortRange } = await import('../../test/helpers/ports.js');
  const port = await freePortRange(1);
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const end = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => (sock.end(), resolve(true)));
      sock.once('error', () => resolve(false));
    });
    if (up) return { url: `redis://127.0.0.1:${port}/0`, child };
    if (Date.now() > end || child.exitCode !== null) throw new Error('redis-server did not start (is it installed? `bash scripts/setup.sh --test` installs it)');
    await sleep(50);
  }
}
let phaseCounter = 0;

/** The server's CPU (cores) over BENCH_CHAT_IDLE_SECONDS with no chat traffic. */
async function idleCores(pids: number[]): Promise<number> {
  const t0 = Date.now();
  const c0 = sumOf(pids, processCpuUs);
  await sleep(settings.idleMs);
  return (sumOf(pids, processCpuUs) - c0) / ((Date.now() - t0) * 1000);
}

/** A per-process figure (CPU µs, RSS bytes) summed over processes. */
function sumOf(pids: number[], f: (pid: number) => number): number {
  return pids.reduce((a, pid) => a + f(pid), 0);
}

async function gcServer(server: ChildProcess): Promise<void> {
  server.send({ type: 'gc' } satisfies ToServer);
  await nextMessage(server, 'gc', 10_000, (m) => (m.type === 'gcDone' ? m : undefined));
}

/** Waits (bounded) until the machine's CPU use is below `cores` over 1 s samples; returns the waited ms and the last reading. */
async function waitForQuiet(cores: number, maxMs: number): Promise<{ waitedMs: number; busyCores: number }> {
  const started = Date.now();
  let busyCores: number;
  do {
    const a = systemCpu();
    const t = Date.now();
    await sleep(1000);
    const b = systemCpu();
    busyCores = (b.busyUs + b.irqUs - a.busyUs - a.irqUs) / ((Date.now() - t) * 1000);
    if (busyCores < cores) break;
  } while (Date.now() - started < maxMs);
  return { waitedMs: Date.now() - started, busyCores };
}

async function runPoint(kind: ServerKind, n: number): Promise<PointReport> {
  const quiet = await waitForQuiet(0.25, settings.quietWaitMs);
  const rates = ratesFor(n);
  const S = settings.senders;
  const G = Math.min(settings.generators, n);
  const started = Date.now();
  // BENCH_CHAT_CPU_PROFILE=1: a V8 CPU profile of each server, written when it stops.
  // (One file per thread: tsx's module-loader thread writes one too; the main thread's has tid 0 in its name.)
  const profileArgs = settings.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(outDir, 'cpu-profiles', `${kind}-N${n}`)}`] : [];
  // fourcast-2: two nodes in cluster mode on one Redis; their CPU (and Redis's) is the server's.
  const redis = kind === 'fourcast-2' ? await startRedisChild() : undefined;
  const env = kind === 'uws' || kind === 'socketio' ? {} : { ...fourcastEnv, ...(redis ? { REDIS_URL: redis.url } : {}) };
  const servers = Array.from({ length: redis ? 2 : 1 }, () => startChild(serverScripts[kind], n + S + 1024, env, profileArgs));
  const serverLog = servers[0]!.log;
  const gens: ChildProcess[] = [];
  try {
    for (let g = 0; g < G; g++) gens.push(startChild('generator.ts', Math.ceil(n / G) + S + 1024).child);
    const readies = await Promise.all(servers.map((x, i) => nextMessage(x.child, `${kind} server ${i} start`, 60_000, (m) => (m.type === 'ready' ? m : undefined), x.log)));
    for (const r of readies) for (const pid of (r.detail?.mediasoupWorkerPids as number[] | undefined) ?? []) grandchildren.add(pid);
    const ready = readies[0]!;
    /** Every process whose CPU is the server side's (the nodes, and Redis for fourcast-2). */
    const pids = [...readies.map((r) => r.pid), ...(redis?.child.pid ? [redis.child.pid] : [])];
    if (ready.nofile < n + S + 64) {
      throw new Error(
        `the ${kind} server may open only ${ready.nofile} files but needs about ${n + S + 64} for N=${n}: ` +
          `raise the hard limit (ulimit -Hn, or LimitNOFILE for a service) or lower BENCH_CHAT_N`,
      );
    }

    // Senders: Fourcast ones hold publisher tokens (moderators: exempt from the chat rate limit).
    // Viewers and senders alternate between the nodes (one node: all on it).
    const urls = readies.map((r) => r.url);
    let viewerUrls = urls;
    let senderUrls = Array.from({ length: S }, (_, i) => urls[i % urls.length]!);
    if (kind !== 'uws' && kind !== 'socketio') {
      viewerUrls = urls.map((u) => `${u}?room=${ROOM}`);
      const tokens = new TokenService(TOKEN_SECRET);
      senderUrls = await Promise.all(
        senderUrls.map(async (u, i) => `${u}?token=${await tokens.mint({ role: 'publisher', room: ROOM, name: `Sender ${i}`, ttlSeconds: 3600 })}`),
      );
    }

    for (const x of servers) await gcServer(x.child);
    await sleep(300);
    const rssBefore = sumOf(readies.map((r) => r.pid), processRssBytes);
    const idleEmptyCores = await idleCores(pids);

    const sampleEvery = Math.max(1, Math.floor(n / settings.latencyViewers));
    const connectStarted = Date.now();
    const connected = await Promise.all(
      gens.map((gen, g) => {
        const first = Math.floor((g * n) / G);
        const count = Math.floor(((g + 1) * n) / G) - first;
        const cmd: ToGenerator = {
          type: 'connect',
          kind: kind === 'fourcast-2' ? 'fourcast' : kind,
          url: viewerUrls[g % viewerUrls.length]!,
          receivers: count,
          receiverOffset: first,
          sampleEvery,
          senders: g === 0 ? senderUrls.map((url) => ({ url })) : [],
          batch: settings.batch,
          timeoutMs: settings.connectTimeoutMs,
        };
        gen.send(cmd);
        const budget = (Math.ceil(count / settings.batch) + 2) * settings.connectTimeoutMs;
        return nextMessage(gen, `generator ${g} connect`, budget, (m) => (m.type === 'connected' ? (m as ConnectResult) : undefined));
      }),
    );
    const connectMs = Date.now() - connectStarted;
    const viewers = connected.reduce((a, c) => a + c.receivers, 0);
    const failed = connected.reduce((a, c) => a + c.failed, 0);
    const connectErrors: Record<string, number> = {};
    for (const c of connected) for (const [k, v] of Object.entries(c.errors)) connectErrors[k] = (connectErrors[k] ?? 0) + v;
    if (viewers === 0) throw new Error(`${kind} N=${n}: no viewer connected (${JSON.stringify(connectErrors)})`);

    await sleep(500);
    for (const x of servers) await gcServer(x.child);
    await sleep(300);
    const rssAfter = sumOf(readies.map((r) => r.pid), processRssBytes);
    // Idle cost with N connections open (timers, pings, sweeps).
    const idleConnectedCores = await idleCores(pids);

    const phases: PhaseReport[] = [];
    for (const [label, rate] of [
      ['base', rates.base],
      ['overload', rates.overload],
    ] as const) {
      phases.push(await runPhase(label, rate, viewers, pids, gens, serverLog));
      await sleep(500);
    }

    const point: PointReport = {
      server: kind,
      n,
      senders: S,
      viewersConnected: viewers,
      connectFailures: failed,
      connectErrors,
      connectSeconds: connectMs / 1000,
      rssBeforeBytes: rssBefore,
      rssAfterBytes: rssAfter,
      rssPerConnectionBytes: (rssAfter - rssBefore) / viewers,
      idleServerCoresEmpty: idleEmptyCores,
      idleServerCores: idleConnectedCores,
      machineBusyCoresBefore: quiet.busyCores,
      waitedForQuietSeconds: quiet.waitedMs / 1000,
      phases,
      serverLog: serverLog.counts,
      fileLimits: { server: ready.nofile, generators: connected.map((c) => c.nofile) },
      seconds: 0,
    };
    point.seconds = (Date.now() - started) / 1000;
    return point;
  } finally {
    await Promise.all([
      ...gens.map((g, i) => stopChild(g, { type: 'stop' }, `generator ${i} (${kind} N=${n})`)),
      ...servers.map((x, i) => stopChild(x.child, { type: 'stop' }, `${kind} server ${i} N=${n}`)),
    ]);
    redis?.child.kill('SIGKILL');
    for (const pid of grandchildren) if (alive(pid)) process.kill(pid, 'SIGKILL');
    grandchildren.clear();
  }
}

/** One fixed-rate phase; `n` is the number of viewers actually connected (expected deliveries = sent × n). */
async function runPhase(label: 'base' | 'overload', rate: number, n: number, pids: number[], gens: ChildProcess[], log: LogTail): Promise<PhaseReport> {
  const id = ++phaseCounter;
  const startAt = Date.now() + 300;
  const { durationMs, graceMs } = settings;
  const results = Promise.all(
    gens.map((gen, g) => {
      gen.send({ type: 'phase', id, startAt, durationMs, graceMs, rate: g === 0 ? rate : 0 } satisfies ToGenerator);
      return nextMessage(gen, `generator ${g} phase ${label}`, durationMs + graceMs + 60_000, (m) => (m.type === 'phaseResult' && m.id === id ? (m as PhaseResult) : undefined));
    }),
  );
  const genPids = gens.map((g) => g.pid ?? -1);
  const sample = () => ({ t: Date.now(), server: sumOf(pids, processCpuUs), gens: genPids.map(processCpuUs), sys: systemCpu() });
  const warnBefore = { ...log.counts };
  await sleep(startAt - Date.now());
  const s0 = sample();
  await sleep(startAt + durationMs + graceMs - Date.now());
  const s1 = sample();
  const rssEnd = sumOf(pids, processRssBytes);
  const r = await results;

  const sum = (f: (x: PhaseResult) => number) => r.reduce((a, x) => a + f(x), 0);
  const merge = (f: (x: PhaseResult) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const x of r) for (const [k, v] of Object.entries(f(x))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const sent = sum((x) => x.sent);
  const viewerInWindow = sum((x) => x.viewerInWindow);
  const viewerTotal = sum((x) => x.viewerTotal);
  const senderTotal = sum((x) => x.senderTotal);
  const lat = r.flatMap((x) => x.latencies).sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]! : Number.NaN);
  const wallUs = (s1.t - s0.t) * 1000;
  const serverUs = s1.server - s0.server;
  const genUs = s1.gens.reduce((a, v, i) => a + (v - s0.gens[i]!), 0);
  const sysUs = s1.sys.busyUs - s0.sys.busyUs;
  const seconds = durationMs / 1000;
  const expected = sent * n;
  const serverLogDelta: Record<string, number> = {};
  for (const [k, v] of Object.entries(log.counts)) if (v !== (warnBefore[k] ?? 0)) serverLogDelta[k] = v - (warnBefore[k] ?? 0);

  return {
    label,
    rate,
    targetSent: Math.round((rate * durationMs) / 1000),
    sent,
    expectedPerSecond: expected / seconds,
    deliveredPerSecond: viewerInWindow / seconds,
    deliveredTotal: viewerTotal,
    deliveryRatio: expected ? viewerTotal / expected : Number.NaN,
    latencySamples: lat.length,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: lat.length ? lat[lat.length - 1]! : Number.NaN,
    serverCpuUsPerDelivery: serverUs / Math.max(1, viewerTotal + senderTotal),
    serverCores: serverUs / wallUs,
    generatorCores: genUs / wallUs,
    generatorLoopDelayP99Ms: Math.max(...r.map((x) => x.loopDelayP99Ms)),
    // Process CPU times include the loopback softirq work done in the process's context; /proc/stat counts it as softirq.
    otherCores: Math.max(0, (sysUs + (s1.sys.irqUs - s0.sys.irqUs) - serverUs - genUs) / wallUs),
    irqCores: (s1.sys.irqUs - s0.sys.irqUs) / wallUs,
    stealCores: (s1.sys.stealUs - s0.sys.stealUs) / wallUs,
    rssEndBytes: rssEnd,
    sendErrors: merge((x) => x.sendErrors),
    closes: merge((x) => x.closes),
    openViewersAfter: sum((x) => x.openReceivers),
    serverLog: serverLogDelta,
  };
}

// ---- ratios, output --------------------------------------------------------------------------

function ratios(points: PointReport[]): RatioReport[] {
  const out: RatioReport[] = [];
  for (const n of settings.ns) {
    const get = (k: ServerKind) => points.find((p) => p.server === k && p.n === n);
    const f = get('fourcast');
    const u = get('uws');
    const s = get('socketio');
    const c = get('fourcast-2');
    const phase = (p: PointReport | undefined, l: 'base' | 'overload') => p?.phases.find((x) => x.label === l);
    const div = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : Number.NaN);
    out.push({
      n,
      fourcastVsUwsBase: div(phase(f, 'base')?.deliveredPerSecond, phase(u, 'base')?.deliveredPerSecond),
      fourcastVsUwsOverload: div(phase(f, 'overload')?.deliveredPerSecond, phase(u, 'overload')?.deliveredPerSecond),
      fourcastVsUwsCpuEfficiency: div(phase(u, 'base')?.serverCpuUsPerDelivery, phase(f, 'base')?.serverCpuUsPerDelivery),
      fourcastVsUwsCpuEfficiencyOverload: div(phase(u, 'overload')?.serverCpuUsPerDelivery, phase(f, 'overload')?.serverCpuUsPerDelivery),
      fourcastVsSocketioOverload: div(phase(f, 'overload')?.deliveredPerSecond, phase(s, 'overload')?.deliveredPerSecond),
      fourcastVsSocketioCpuEfficiency: div(phase(s, 'base')?.serverCpuUsPerDelivery, phase(f, 'base')?.serverCpuUsPerDelivery),
      fourcastVsSocketioCpuEfficiencyOverload: div(phase(s, 'overload')?.serverCpuUsPerDelivery, phase(f, 'overload')?.serverCpuUsPerDelivery),
      socketioFellBehind: (phase(s, 'overload')?.deliveryRatio ?? 1) < 0.95,
      twoNodesVsOneBase: div(phase(c, 'base')?.deliveredPerSecond, phase(f, 'base')?.deliveredPerSecond),
      twoNodesVsOneOverload: div(phase(c, 'overload')?.deliveredPerSecond, phase(f, 'overload')?.deliveredPerSecond),
      twoNodesCpuPerDeliveryVsOne: div(phase(c, 'base')?.serverCpuUsPerDelivery, phase(f, 'base')?.serverCpuUsPerDelivery),
      twoNodesCpuPerDeliveryVsOneOverload: div(phase(c, 'overload')?.serverCpuUsPerDelivery, phase(f, 'overload')?.serverCpuUsPerDelivery),
    });
  }
  return out;
}

async function main(): Promise<void> {
  const runStarted = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`bench:chat: still running after ${settings.maxRunMs / 60_000} min; killing everything`);
    killEverything();
    process.exit(1);
  }, settings.maxRunMs);
  watchdog.unref();

  const hardFiles = openFileLimit();
  const need = Math.max(...settings.ns) + settings.senders + 1024;
  console.log(
    `bench:chat: N=${settings.ns.join(',')} servers=${settings.servers.join(',')} senders=${settings.senders} ` +
      `window=${settings.durationMs / 1000}s grace=${settings.graceMs / 1000}s generators=${settings.generators}; ` +
      `open-file limit here ${hardFiles}, a server needs ~${need}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  ticksPerSecond();

  const points: PointReport[] = [];
  const failures: { server: ServerKind; n: number; error: string }[] = [];
  for (const n of settings.ns) {
    const r = ratesFor(n);
    for (const kind of settings.servers) {
      process.stdout.write(`  ${kind.padEnd(8)} N=${String(n).padEnd(5)} rates ${r.base}/${r.overload} msg/s … `);
      try {
        const p = await runPoint(kind, n);
        points.push(p);
        const b = p.phases[0]!;
        const o = p.phases[1]!;
        console.log(
          `connected ${p.viewersConnected} in ${p.connectSeconds.toFixed(1)}s; ` +
            `base ${Math.round(b.deliveredPerSecond)}/s (${(b.deliveryRatio * 100).toFixed(1)}%, ${b.serverCpuUsPerDelivery.toFixed(2)} µs), ` +
            `overload ${Math.round(o.deliveredPerSecond)}/s (${(o.deliveryRatio * 100).toFixed(1)}%); ${p.seconds.toFixed(0)}s`,
        );
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        failures.push({ server: kind, n, error: message });
        console.log(`FAILED: ${message}`);
      }
    }
  }

  const cpus = os.cpus();
  const report: RunReport = {
    date: new Date().toISOString(),
    machine: {
      cores: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      memoryBytes: os.totalmem(),
      openFileLimit: hardFiles,
      loadAverageAtEnd: os.loadavg(),
    },
    settings: { ...settings, rates: Object.fromEntries(settings.ns.map((n) => [n, ratesFor(n)])), fourcastEnv: { ...fourcastEnv, TOKEN_SECRET: '(bench secret)' } },
    points,
    ratios: ratios(points),
    failures,
    seconds: (Date.now() - runStarted) / 1000,
  };
  if (killedAfterStop.length) console.log(`note: killed after a 3 s stop timeout: ${killedAfterStop.join(', ')}`);
  const md = renderMarkdown(report);
  fs.mkdirSync(outDir, { recursive: true });
  // BENCH_CHAT_OUT names the result files (default chat: bench-results/chat.{json,md}).
  const out = process.env.BENCH_CHAT_OUT ?? 'chat';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(out)) throw new Error(`BENCH_CHAT_OUT must be 1-64 letters, digits, _ or -, got "${out}"`);
  fs.writeFileSync(path.join(outDir, `${out}.json`), JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, `${out}.md`), md);
  console.log('\n' + md);
  console.log(`wrote ${path.relative(repo, path.join(outDir, `${out}.json`))} and ${out}.md in ${report.seconds.toFixed(0)} s`);
  if (failures.length) process.exitCode = 1;
}

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  })
  .finally(() => {
    killEverything();
    // Nothing should be left, but never hang on a stray handle.
    setTimeout(() => process.exit(), 500).unref();
  });
