/**
 * `npm run bench:cascade`: what one edge node costs the room's origin. One origin node with
 * one VP8 publisher (ffmpeg, ~1 Mbps, 30 fps, through the RTP ingest) and 0, 1, 2 and 4 edge
 * nodes, each with one viewer in the room, so each edge pulls the track through its own
 * pipe. Measures the origin's mediasoup worker CPU (from /proc) and the packets its pipe
 * transports sent, per step; the 0-edge step is the baseline of the same run.
 *
 * Everything runs in this process and on 127.0.0.1, with a redis-server of its own.
 * Results: bench-results/cascade.{json,md}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { types } from 'mediasoup';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { startFourcast, type Fourcast } from '../../src/server.js';
import { freePortRange } from '../../test/helpers/ports.js';
import { TestClient } from '../../test/helpers/wsClient.js';
import { AdminClient } from '../../loadtest/media/bots.js';
import { cpuSeconds } from './procStat.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(here, '../../bench-results');
const ROOM = 'bench-cascade';
const ADMIN_TOKEN = crypto.randomBytes(18).toString('hex');
const SOURCE = 'testsrc2=size=640x360:rate=30';
const ENCODE = ['-c:v', 'libvpx', '-b:v', '1M', '-deadline', 'realtime', '-cpu-used', '8', '-g', '60'];
const PT = 101;
const STEPS = (process.env.BENCH_CASCADE_EDGES ?? '0,1,2,4').split(',').map(Number);
const WINDOW_MS = Number(process.env.BENCH_CASCADE_SECONDS ?? 10) * 1000;
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

async function startNode(redisUrl: string): Promise<Fourcast> {
  const port = await freePortRange(1);
  const config = loadConfig({
    HTTP_HOST: '127.0.0.1', HTTP_PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, WS_HOST: '127.0.0.1', WS_PORT: '0',
    RTC_LISTEN_IP: '127.0.0.1', RTC_PORT_BASE: String(await freePortRange(1)), MEDIASOUP_WORKERS: '1',
    STUN_URLS: 'stun:127.0.0.1:9', TOKEN_SECRET: 'bench-secret-bench-secret-bench-secret-0123', ADMIN_TOKEN,
    REDIS_URL: redisUrl, LOG_LEVEL: 'warn', LOG_FORMAT: 'json', MEDIASOUP_LOG_LEVEL: 'error',
  });
  return startFourcast(config, log, { clientDir: null });
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const origin = await startNode(redis.url);
  const edges: { node: Fourcast; viewer: TestClient }[] = [];
  let ffmpeg: ChildProcess | undefined;
  try {
    const admin = new AdminClient(origin.urls.http, ADMIN_TOKEN);
    const ingest = await admin.startIngest(ROOM, { kind: 'video', name: 'ffmpeg', payloadType: PT, ssrc: 0x1234, codec: 'VP8' });
    ffmpeg = spawn(
      'ffmpeg',
      ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', SOURCE, '-an', ...ENCODE, '-ssrc', String(0x1234), '-payload_type', String(PT), '-f', 'rtp', `rtp://127.0.0.1:${ingest.rtpPort}?rtcpport=${ingest.rtcpPort}&pkt_size=1200`],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const workerPid = origin.pool.workers[0]!.pid;
    // The origin's pipe consumers, as mediasoup creates them (one per edge for the one track).
    const pipeConsumers: types.Consumer[] = [];
    const router = (await origin.rooms.get(ROOM)!.media.origin()).router;
    router.observer.on('newtransport', (t) => {
      if (t.type === 'pipe') t.observer.on('newconsumer', (c) => pipeConsumers.push(c));
    });
    await sleep(3000);
    const steps: { edges: number; originWorkerCores: number; pipePacketsPerSecond: number }[] = [];
    for (const target of STEPS) {
      while (edges.length < target) {
        const node = await startNode(redis.url);
        const viewer = await TestClient.connect(`${node.urls.ws}?room=${ROOM}`);
        await viewer.request('join', { name: `Edge ${edges.length + 1}` });
        await viewer.waitFor('newProducer', () => true, 15_000);
        edges.push({ node, viewer });
      }
      await sleep(3000); // pipes up and flowing
      const p0 = await pipeSent(pipeConsumers);
      const c0 = cpuSeconds(workerPid);
      const t0 = performance.now();
      await sleep(WINDOW_MS);
      const seconds = (performance.now() - t0) / 1000;
      const step = { edges: target, originWorkerCores: (cpuSeconds(workerPid) - c0) / seconds, pipePacketsPerSecond: ((await pipeSent(pipeConsumers)) - p0) / seconds };
      steps.push(step);
      console.log(`edges ${target}: origin worker ${(step.originWorkerCores * 100).toFixed(2)} % of a core, pipes sent ${Math.round(step.pipePacketsPerSecond)} pkt/s`);
    }
    const base = steps.find((s) => s.edges === 0);
    const rows = steps.map((s) => {
      const extra = base ? s.originWorkerCores - base.originWorkerCores : Number.NaN;
      return { ...s, extraCoresVsNoEdge: extra, extraCoresPerEdge: s.edges > 0 ? extra / s.edges : Number.NaN, usPerPipePacket: s.pipePacketsPerSecond > 0 ? (extra * 1e6) / s.pipePacketsPerSecond : Number.NaN };
    });
    const report = { date: new Date().toISOString(), machine: { cores: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version }, windowSeconds: WINDOW_MS / 1000, source: `${SOURCE} ${ENCODE.join(' ')}`, rows };
    const md = [
      `# Cascade cost at the origin (${report.date})`,
      '',
      `${report.machine.cores} cores, ${report.machine.cpuModel}. One VP8 publisher (${report.source}) on the origin; each edge node holds one viewer, so it pulls the track through one pipe. ${report.windowSeconds} s per step; the 0-edge step is the baseline.`,
      '',
      '| edges | origin worker CPU (cores) | extra vs 0 edges | extra per edge | pipe packets sent/s | µs per pipe packet |',
      '|---:|---:|---:|---:|---:|---:|',
      ...rows.map((r) => `| ${r.edges} | ${r.originWorkerCores.toFixed(4)} | ${r.extraCoresVsNoEdge.toFixed(4)} | ${Number.isFinite(r.extraCoresPerEdge) ? r.extraCoresPerEdge.toFixed(4) : 'n/a'} | ${Math.round(r.pipePacketsPerSecond)} | ${Number.isFinite(r.usPerPipePacket) ? r.usPerPipePacket.toFixed(1) : 'n/a'} |`),
      '',
    ].join('\n');
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'cascade.json'), JSON.stringify(report, null, 2) + '\n');
    fs.writeFileSync(path.join(outDir, 'cascade.md'), md);
    console.log('\n' + md);
  } finally {
    ffmpeg?.kill('SIGTERM');
    for (const e of edges) {
      e.viewer.close();
      await e.node.close();
    }
    await origin.close();
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
