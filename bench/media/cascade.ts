/**
 * `npm run bench:cascade`: what edge nodes cost the room's origin, and what spreading their
 * pipes over the origin's workers buys. One origin node with TRACKS VP8 publishers (one
 * ffmpeg encode, ~1 Mbps, 30 fps, sent to every track's RTP ingest) and 0, 4, 8 and 16 edge
 * nodes, each with one viewer in the room, so each edge pulls every track through its own
 * pipe. Run once per origin worker count (BENCH_CASCADE_ORIGIN_WORKERS, default "1,2"): the
 * origin places each edge's pipe like a viewer (least-loaded worker), so with two workers the
 * busiest worker should carry about half the pipes. Measures each origin worker's CPU (from
 * /proc) and the packets the edge pipes sent, per step; the 0-edge step of the same pass is
 * the baseline, and the 1-worker pass is the baseline of the others.
 *
 * Everything runs in this process and on 127.0.0.1, with a redis-server of its own.
 * Results: bench-results/cascade.{json,md} (BENCH_CASCADE_OUT renames them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import type { types } from 'mediasoup';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { startFourcast, type Fourcast } from '../../src/server.js';
import { freePortRange } from '../../test/helpers/ports.js';
import { TestClient } from '../../test/helpers/wsClient.js';
import { AdminClient } from '../../loadtest/media/bots.js';
import { writeReport } from './output.js';
import { cpuSeconds } from './procStat.js';

const ROOM = 'bench-cascade';
const ADMIN_TOKEN = crypto.randomBytes(18).toString('hex');
const SOURCE = 'testsrc2=size=640x360:rate=30';
const ENCODE = ['-c:v', 'libvpx', '-b:v', '1M', '-deadline', 'realtime', '-cpu-used', '8', '-g', '60'];
const PT = 101;
const STEPS = (process.env.BENCH_CASCADE_EDGES ?? '0,4,8,16').split(',').map(Number);
const WINDOW_MS = Number(process.env.BENCH_CASCADE_SECONDS ?? 10) * 1000;
const PASSES = (process.env.BENCH_CASCADE_ORIGIN_WORKERS ?? '1,2').split(',').map(Number);
const TRACKS = Number(process.env.BENCH_CASCADE_TRACKS ?? 4);
const OUT = process.env.BENCH_CASCADE_OUT ?? 'cascade';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = pino({ level: 'warn' });

async function startRedis(): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePortRange(1);
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return { url: `redis://127.0.0.1:${port}/0`, proc };
    await sleep(50);
  }
  throw new Error('redis-server did not start (is it installed? `bash scripts/setup.sh --test` installs it)');
}

async function startNode(redisUrl: string, workers = 1): Promise<Fourcast> {
  const port = await freePortRange(1);
  const config = loadConfig({
    HTTP_HOST: '127.0.0.1', HTTP_PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, WS_HOST: '127.0.0.1', WS_PORT: '0',
    RTC_LISTEN_IP: '127.0.0.1', RTC_PORT_BASE: String(await freePortRange(workers)), MEDIASOUP_WORKERS: String(workers),
    STUN_URLS: 'stun:127.0.0.1:9', TOKEN_SECRET: 'bench-secret-bench-secret-bench-secret-0123', ADMIN_TOKEN,
    REDIS_URL: redisUrl, LOG_LEVEL: 'warn', LOG_FORMAT: 'json', MEDIASOUP_LOG_LEVEL: 'error',
  });
  return startFourcast(config, log, { clientDir: null });
}

interface Step {
  edges: number;
  originWorkerCores: number;
  busiestWorkerCores: number;
  perWorker: { worker: number; edges: number; cores: number }[];
  pipePacketsPerSecond: number;
}

/** One pass: an origin with `workers` workers, edges added step by step. */
async function pass(redisUrl: string, workers: number, room: string): Promise<Step[]> {
  const origin = await startNode(redisUrl, workers);
  // The origin's pipe consumers to edges (the cascade tags their transports with the edge
  // node), on whichever of its workers' routers they land.
  const pipeConsumers: types.Consumer[] = [];
  for (const w of origin.pool.workers) {
    w.worker.observer.on('newrouter', (router) =>
      router.observer.on('newtransport', (t) => {
        if (t.type === 'pipe' && t.appData.edge) t.observer.on('newconsumer', (consumer) => pipeConsumers.push(consumer));
      }),
    );
  }
  const edges: { node: Fourcast; viewer: TestClient }[] = [];
  let ffmpeg: ChildProcess | undefined;
  try {
    const admin = new AdminClient(origin.urls.http, ADMIN_TOKEN);
    // One encode, the same RTP to every track's ingest (each ingest is its own transport, so one SSRC is fine).
    const targets: string[] = [];
    for (let i = 0; i < TRACKS; i++) {
      const ingest = await admin.startIngest(room, { kind: 'video', name: `ffmpeg ${i + 1}`, payloadType: PT, ssrc: 0x1234, codec: 'VP8' });
      targets.push(`[f=rtp:ssrc=${0x1234}:payload_type=${PT}]rtp://127.0.0.1:${ingest.rtpPort}?rtcpport=${ingest.rtcpPort}&pkt_size=1200`);
    }
    ffmpeg = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', SOURCE, '-an', ...ENCODE, '-map', '0:v', '-f', 'tee', targets.join('|')], { stdio: ['ignore', 'ignore', 'inherit'] });
    const pids = origin.pool.workers.map((w) => w.pid);
    const cpu = () => pids.map((pid) => cpuSeconds(pid));
    await sleep(3000);
    const steps: Step[] = [];
    for (const target of STEPS) {
      while (edges.length < target) {
        const node = await startNode(redisUrl);
        const viewer = await TestClient.connect(`${node.urls.ws}?room=${room}`);
        await viewer.request('join', { name: `Edge ${edges.length + 1}` });
        await viewer.waitFor('newProducer', () => true, 15_000);
        edges.push({ node, viewer });
      }
      await sleep(3000); // pipes up and flowing
      const p0 = await pipeSent(pipeConsumers);
      const c0 = cpu();
      const t0 = performance.now();
      await sleep(WINDOW_MS);
      const seconds = (performance.now() - t0) / 1000;
      const c1 = cpu();
      const routers = origin.rooms.get(room)!.media.describeRouters();
      const perWorker = pids.map((_, worker) => ({ worker, edges: routers.filter((r) => r.worker === worker).reduce((n, r) => n + r.edges, 0), cores: (c1[worker]! - c0[worker]!) / seconds }));
      const step: Step = {
        edges: target,
        originWorkerCores: perWorker.reduce((n, w) => n + w.cores, 0),
        busiestWorkerCores: Math.max(...perWorker.map((w) => w.cores)),
        perWorker,
        pipePacketsPerSecond: ((await pipeSent(pipeConsumers)) - p0) / seconds,
      };
      steps.push(step);
      console.log(`${workers} worker(s), ${target} edges: origin ${(step.originWorkerCores * 100).toFixed(1)} % of a core (${perWorker.map((w) => `w${w.worker}: ${w.edges} edges, ${(w.cores * 100).toFixed(1)} %`).join('; ')}), pipes sent ${Math.round(step.pipePacketsPerSecond)} pkt/s`);
    }
    return steps;
  } finally {
    ffmpeg?.kill('SIGTERM');
    for (const e of edges) {
      e.viewer.close();
      await e.node.close();
    }
    await origin.close();
  }
}

async function main(): Promise<void> {
  const redis = await startRedis();
  try {
    const passes: { originWorkers: number; rows: (Step & { extraCoresVsNoEdge: number; extraCoresPerEdge: number; usPerPipePacket: number })[] }[] = [];
    for (const [i, workers] of PASSES.entries()) {
      const steps = await pass(redis.url, workers, `${ROOM}-${i}`);
      const base = steps.find((s) => s.edges === 0);
      passes.push({
        originWorkers: workers,
        rows: steps.map((s) => {
          const extra = base ? s.originWorkerCores - base.originWorkerCores : Number.NaN;
          return { ...s, extraCoresVsNoEdge: extra, extraCoresPerEdge: s.edges > 0 ? extra / s.edges : Number.NaN, usPerPipePacket: s.pipePacketsPerSecond > 0 ? (extra * 1e6) / s.pipePacketsPerSecond : Number.NaN };
        }),
      });
    }
    // The busiest origin worker is what caps a room's edges: compare it with the first pass's.
    const first = passes[0]!;
    const spread = passes.slice(1).flatMap((p) =>
      p.rows.map((r) => {
        const b = first.rows.find((x) => x.edges === r.edges);
        return { originWorkers: p.originWorkers, edges: r.edges, busiestWorkerCores: r.busiestWorkerCores, baselineBusiestCores: b?.busiestWorkerCores ?? Number.NaN, ratio: b ? r.busiestWorkerCores / b.busiestWorkerCores : Number.NaN };
      }),
    );
    const report = { date: new Date().toISOString(), machine: { cores: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version }, windowSeconds: WINDOW_MS / 1000, tracks: TRACKS, source: `${SOURCE} ${ENCODE.join(' ')}`, passes, spread };
    const num = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
    const md = [
      `# Cascade cost at the origin (${report.date})`,
      '',
      `${report.machine.cores} cores, ${report.machine.cpuModel}. ${TRACKS} VP8 tracks on the origin (one encode of ${report.source}, sent to ${TRACKS} RTP ingests); each edge node holds one viewer, so it pulls the ${TRACKS} tracks through its own pipe. ${report.windowSeconds} s per step; the 0-edge step of each pass is its baseline. CPU is read from /proc (10 ms ticks).`,
      ...passes.flatMap((p) => [
        '',
        `## Origin with ${p.originWorkers} worker(s)`,
        '',
        '| edges | origin workers CPU (cores) | extra vs 0 edges | extra per edge | pipe packets sent/s | µs per pipe packet | edges per worker (CPU, cores) |',
        '|---:|---:|---:|---:|---:|---:|---|',
        ...p.rows.map((r) => `| ${r.edges} | ${r.originWorkerCores.toFixed(3)} | ${num(r.extraCoresVsNoEdge, 3)} | ${num(r.extraCoresPerEdge, 4)} | ${Math.round(r.pipePacketsPerSecond)} | ${num(r.usPerPipePacket, 1)} | ${r.perWorker.map((w) => `w${w.worker}: ${w.edges} (${w.cores.toFixed(3)})`).join(', ')} |`),
      ]),
      ...(spread.length
        ? ['', `## Busiest origin worker against the ${first.originWorkers}-worker pass`, '', '| origin workers | edges | busiest worker (cores) | same step, first pass | ratio |', '|---:|---:|---:|---:|---:|', ...spread.map((x) => `| ${x.originWorkers} | ${x.edges} | ${x.busiestWorkerCores.toFixed(3)} | ${x.baselineBusiestCores.toFixed(3)} | ${num(x.ratio, 2)} |`)]
        : []),
      '',
    ].join('\n');
    writeReport(OUT, report, md);
  } finally {
    redis.proc.kill('SIGKILL');
  }
}

/** Packets the origin's pipe consumers (one per edge) have sent: mediasoup's own counters. */
async function pipeSent(consumers: types.Consumer[]): Promise<number> {
  let n = 0;
  for (const c of consumers) {
    if (c.closed) continue;
    for (const x of await c.getStats().catch(() => [])) if (x.type === 'outbound-rtp') n += x.packetCount;
  }
  return n;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
