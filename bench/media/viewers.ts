/**
 * `npm run bench:viewers`: what one mediasoup worker core forwards to viewers shaped like
 * browsers, Fourcast against bare mediasoup with identical consumers, in the same run.
 *
 * - The stage: four broadcasters, each a VP8 camera (640×360, 20 fps, ~350 kbps) and an Opus
 *   microphone (20 ms frames, no DTX), from one ffmpeg encode per kind sent to every track's
 *   RTP ingest (Fourcast: the admin RTP ingest; bare: comedia PlainTransports).
 * - The viewers: pion/webrtc peer connections in one Go process (loadtest/media/webrtcsink),
 *   each consuming all eight tracks with Chromium's own RTP capabilities (read off a real
 *   viewer page) over a WebRtcTransport: ICE, DTLS-SRTP with AEAD_AES_256_GCM, NACK/RTX,
 *   receiver reports and transport-cc feedback, as Chromium. Fourcast's viewers join through
 *   its real signaling; bare mediasoup's get the same transports and consumers directly.
 * - The worker is pinned to CPU 0 (taskset), everything else (this process, the node's main
 *   thread, ffmpeg, the receivers) to CPU 1.
 * - Each step adds viewers, lets them settle, then counts over a window what the receivers
 *   *received* against what the producers ingested × viewers, the packets still missing after
 *   NACK/RTX had 1 s, and the worker's CPU (/proc). A step passes at 0 lost and ≥ 99 % received.
 * - Repetitions alternate Fourcast and bare; the report gives each step's median and spread.
 *
 * Variables: BENCH_VIEWERS_STEPS (default 25,50,100), BENCH_VIEWERS_WINDOW_S (30),
 * BENCH_VIEWERS_SETTLE_S (5), BENCH_VIEWERS_REPS (3), BENCH_VIEWERS_TARGETS (fourcast,bare),
 * BENCH_VIEWERS_OUT (viewers). Results: bench-results/<out>.{json,md}.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { mediaCodecs } from '../../src/media/codecs.js';
import { describeWorkerBinary, formatWorkerBinary } from '../../src/media/workerBinary.js';
import { startFourcast, type Fourcast } from '../../src/server.js';
import { freePortRange } from '../../test/helpers/ports.js';
import { AdminClient } from '../../loadtest/media/bots.js';
import { joinBrowserViewer } from '../../loadtest/media/browserViewer.js';
import { chromiumRtpCapabilities } from '../../loadtest/media/chromiumCaps.js';
import { answerDtls, recvOffer } from '../../loadtest/media/recvSdp.js';
import { WebrtcSink, type SinkStats } from '../../loadtest/media/webrtcSink.js';
import { outDir, writeReport } from './output.js';
import { cpuSeconds } from './procStat.js';

const ROOM = 'bench-viewers';
const ADMIN_TOKEN = crypto.randomBytes(18).toString('hex');
const STEPS = (process.env.BENCH_VIEWERS_STEPS ?? '25,50,100').split(',').map(Number);
const WINDOW_S = Number(process.env.BENCH_VIEWERS_WINDOW_S ?? 30);
const SETTLE_S = Number(process.env.BENCH_VIEWERS_SETTLE_S ?? 5);
const REPS = Number(process.env.BENCH_VIEWERS_REPS ?? 3);
const TARGETS = (process.env.BENCH_VIEWERS_TARGETS ?? 'fourcast,bare').split(',') as ('fourcast' | 'bare')[];
const OUT = process.env.BENCH_VIEWERS_OUT ?? 'viewers';
/** Viewers the overload run tries to admit past capacity, with Fourcast's default CPU headroom (0: no overload run). */
const OVERLOAD = Number(process.env.BENCH_VIEWERS_OVERLOAD ?? 160);
const BROADCASTERS = 4;
const VIDEO = { pt: 101, ssrc: 0x2201, source: 'testsrc2=size=640x360:rate=20', encode: ['-c:v', 'libvpx', '-b:v', '350k', '-deadline', 'realtime', '-cpu-used', '8', '-g', '40'] };
const AUDIO = { pt: 100, ssrc: 0x2202, source: 'sine=frequency=440:sample_rate=48000', encode: ['-c:a', 'libopus', '-b:a', '32k', '-ar', '48000', '-ac', '2', '-frame_duration', '20', '-application', 'voip'] };
/** Seconds of `perf record -g` on the worker during the last step's window of the first repetition (0: none). */
const PERF_S = Number(process.env.BENCH_VIEWERS_PERF_S ?? 0);
const WORKER_CPU = 0;
const OTHER_CPU = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = pino({ level: 'warn' });

interface Port {
  rtpPort: number;
  rtcpPort: number;
}

/** A system under test: a stage of eight producers on one worker, and a way to add one viewer. */
interface Target {
  name: 'fourcast' | 'bare';
  workerPid: number;
  video: Port[];
  audio: Port[];
  /** Packets each producer has received so far. */
  producerPackets(): Promise<number[]>;
  addViewer(sink: WebrtcSink, id: string): Promise<void>;
  close(): Promise<void>;
}

/** Pins a process (all its threads) to one CPU; false when taskset cannot (one CPU, no taskset). */
function pin(pid: number | undefined, cpu: number): boolean {
  if (!pid || os.cpus().length < 2) return false;
  return spawnSync('taskset', ['-a', '-pc', String(cpu), String(pid)], { stdio: 'ignore' }).status === 0;
}

function startSources(target: Target): ChildProcess[] {
  const tee = (ports: Port[], pt: number, ssrc: number) => ports.map((p) => `[f=rtp:ssrc=${ssrc}:payload_type=${pt}]rtp://127.0.0.1:${p.rtpPort}?rtcpport=${p.rtcpPort}&pkt_size=1200`).join('|');
  const run = (input: string, encode: string[], map: string, out: string) =>
    spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', input, ...encode, '-map', map, '-f', 'tee', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  const procs = [run(VIDEO.source, ['-an', ...VIDEO.encode], '0:v', tee(target.video, VIDEO.pt, VIDEO.ssrc)), run(AUDIO.source, ['-vn', ...AUDIO.encode], '0:a', tee(target.audio, AUDIO.pt, AUDIO.ssrc))];
  for (const p of procs) pin(p.pid, OTHER_CPU);
  return procs;
}

/**
 * `limits`: 'off' lifts WORKER_CPU_HEADROOM and WORKER_MAX_PACKET_RATE so the steps can fill
 * the core; 'default' keeps the node's defaults (the overload run).
 */
async function fourcastTarget(limits: 'off' | 'default' = 'off'): Promise<Target & { node: Fourcast }> {
  const port = await freePortRange(1);
  const config = loadConfig({
    HTTP_HOST: '127.0.0.1', HTTP_PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}`, WS_HOST: '127.0.0.1', WS_PORT: '0',
    RTC_LISTEN_IP: '127.0.0.1', RTC_PORT_BASE: String(await freePortRange(1)), MEDIASOUP_WORKERS: '1',
    STUN_URLS: 'stun:127.0.0.1:9', TOKEN_SECRET: 'bench-secret-bench-secret-bench-secret-0123', ADMIN_TOKEN,
    LOG_LEVEL: 'warn', LOG_FORMAT: 'json', MEDIASOUP_LOG_LEVEL: 'error',
    // Every bench viewer is 127.0.0.1 and they all share one router.
    WS_MAX_CONNECTIONS_PER_ADDRESS: '100000', ROUTER_MAX_VIEWERS: '100000',
    ...(limits === 'off' ? { WORKER_CPU_HEADROOM: '1', WORKER_MAX_PACKET_RATE: '100000000' } : {}),
  });
  const node = await startFourcast(config, log, {});
  const admin = new AdminClient(node.urls.http, ADMIN_TOKEN);
  const video: Port[] = [];
  const audio: Port[] = [];
  const producerIds: string[] = [];
  for (let i = 0; i < BROADCASTERS; i++) {
    const v = await admin.startIngest(ROOM, { kind: 'video', name: `Caster ${i + 1}`, payloadType: VIDEO.pt, ssrc: VIDEO.ssrc, codec: 'VP8' });
    const a = await admin.startIngest(ROOM, { kind: 'audio', name: `Caster ${i + 1}`, payloadType: AUDIO.pt, ssrc: AUDIO.ssrc, codec: 'opus' });
    video.push(v);
    audio.push(a);
    producerIds.push(v.producerId, a.producerId);
  }
  const producers = () => node.rooms.get(ROOM)!.stage.peers.flatMap((p) => [...p.producers.values()].map((x) => x.producer)).filter((p) => producerIds.includes(p.id));
  return {
    name: 'fourcast',
    node,
    workerPid: node.pool.workers[0]!.pid,
    video,
    audio,
    producerPackets: async () => Promise.all(producers().map(async (p) => (await p.getStats()).reduce((n, s) => n + s.packetCount, 0))),
    addViewer: async (sink, id) => {
      await joinBrowserViewer(sink, { wsUrl: node.urls.ws, room: ROOM, rtpCapabilities: caps!, id });
    },
    close: () => node.close(),
  };
}

/** mediasoup alone, with what Fourcast gives a viewer: a WebRtcServer transport, the same codecs and options. */
async function bareTarget(): Promise<Target> {
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  const port = await freePortRange(1);
  const webRtcServer = await worker.createWebRtcServer({ listenInfos: (['udp', 'tcp'] as const).map((protocol) => ({ protocol, ip: '127.0.0.1', port })) });
  const router = await worker.createRouter({ mediaCodecs });
  const producers: ms.Producer[] = [];
  const video: Port[] = [];
  const audio: Port[] = [];
  for (let i = 0; i < BROADCASTERS; i++) {
    for (const kind of ['video', 'audio'] as const) {
      const t = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: false, comedia: true });
      const codec = kind === 'video' ? { mimeType: 'video/VP8', payloadType: VIDEO.pt, clockRate: 90000 } : { mimeType: 'audio/opus', payloadType: AUDIO.pt, clockRate: 48000, channels: 2 };
      producers.push(await t.produce({ kind, rtpParameters: { codecs: [codec], encodings: [{ ssrc: kind === 'video' ? VIDEO.ssrc : AUDIO.ssrc }], rtcp: { cname: `bare-${i}`, reducedSize: false } } }));
      (kind === 'video' ? video : audio).push({ rtpPort: t.tuple.localPort, rtcpPort: t.rtcpTuple!.localPort });
    }
  }
  return {
    name: 'bare',
    workerPid: worker.pid,
    video,
    audio,
    producerPackets: async () => Promise.all(producers.map(async (p) => (await p.getStats()).reduce((n, s) => n + s.packetCount, 0))),
    addViewer: async (sink, id) => {
      const transport = await router.createWebRtcTransport({ webRtcServer, enableUdp: true, enableTcp: true, preferUdp: true, initialAvailableOutgoingBitrate: 1_000_000 });
      const consumers = [];
      for (const p of producers) consumers.push(await transport.consume({ producerId: p.id, rtpCapabilities: caps!, paused: false }));
      const offer = recvOffer(transport, consumers.map((c) => ({ kind: c.kind, rtpParameters: c.rtpParameters })));
      await transport.connect({ dtlsParameters: answerDtls(await sink.answer(id, offer)) });
    },
    close: async () => worker.close(),
  };
}

interface Window {
  target: 'fourcast' | 'bare';
  rep: number;
  viewers: number;
  connected: number;
  seconds: number;
  /** What the producers ingested per second, all eight together: what each viewer should get. */
  perViewerPps: number;
  receivedPps: number;
  /** Every packet the receivers got: media, repairs, duplicates and padding probes. */
  wirePps: number;
  paddingPps: number;
  expectedPps: number;
  receivedRatio: number;
  lost: number;
  recovered: number;
  workerCores: number;
  /** The receivers' CPU: near 1 core they, not the worker, are the limit. */
  sinkCores: number;
  usPerPacket: number;
  ppsPerCore: number;
  viewersPerCore: number;
  pass: boolean;
}

let caps: ms.RtpCapabilities | undefined;

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Profiles the worker with perf while the window runs; writes <out>-perf-<target>.txt (by library, then by symbol). */
function profile(target: Target): Promise<void> {
  const data = path.join(outDir, `${OUT}-perf-${target.name}.data`);
  fs.mkdirSync(outDir, { recursive: true });
  return new Promise((resolve) => {
    const rec = spawn('perf', ['record', '-F', '999', '-g', '-p', String(target.workerPid), '-o', data, '--', 'sleep', String(PERF_S)], { stdio: 'ignore' });
    rec.once('error', (err) => {
      console.warn(`perf not available (${err.message}): install linux-perf to profile`);
      resolve();
    });
    rec.once('exit', () => {
      const report = (sort: string) => spawnSync('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', sort, '--percent-limit', '0.5'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout ?? '';
      const strip = (t: string) => t.split('\n').filter((l) => l.trim() !== '' && !/^\s+\|/.test(l) && !/^\s+-/.test(l) && !/^\s+---/.test(l)).join('\n');
      fs.writeFileSync(path.join(outDir, `${OUT}-perf-${target.name}.txt`), `# perf record -g on the ${target.name} worker, ${PERF_S} s at the last step\n\n## by library\n${strip(report('dso'))}\n\n## by symbol\n${strip(report('dso,sym')).split('\n').slice(0, 80).join('\n')}\n`);
      fs.rmSync(data, { force: true });
      resolve();
    });
  });
}

async function measure(target: Target, sink: WebrtcSink, viewers: number, rep: number): Promise<Window> {
  await sleep(SETTLE_S * 1000);
  const totals = (s: SinkStats) => ({
    packets: sum(s.streams.map((x) => x.packets)) + s.probation,
    unique: sum(s.streams.map((x) => x.unique)),
    // Padding-only packets on media streams, and mediasoup's bandwidth probation packets.
    padding: sum(s.streams.map((x) => x.padding)) + s.probation,
    duplicates: sum(s.streams.map((x) => x.duplicates)),
    lost: sum(s.streams.map((x) => x.lost)),
    recovered: sum(s.streams.map((x) => x.recovered)),
  });
  const s0 = totals(await sink.stats());
  const p0 = await target.producerPackets();
  const c0 = cpuSeconds(target.workerPid);
  const k0 = cpuSeconds(sink.pid!);
  const t0 = performance.now();
  const profiling = PERF_S > 0 && rep === 1 && viewers === STEPS[STEPS.length - 1] ? profile(target) : undefined;
  await sleep(WINDOW_S * 1000);
  const seconds = (performance.now() - t0) / 1000;
  await profiling;
  const c1 = cpuSeconds(target.workerPid);
  const k1 = cpuSeconds(sink.pid!);
  const [p1, end] = await Promise.all([target.producerPackets(), sink.stats()]);
  const s1 = totals(end);
  // A packet counts as lost once its 1 s repair grace has passed: read the losses a little later
  // (a loss in that extra second counts too, so this errs against the system under test).
  await sleep(1200);
  const late = totals(await sink.stats());
  const perViewerPps = sum(p1.map((n, i) => n - p0[i]!)) / seconds;
  if (process.env.DEBUG_BENCH) {
    const first = end.streams.filter((x) => x.id === end.streams[0]!.id);
    console.log('  producers pkt/s', p1.map((n, i) => ((n - p0[i]!) / seconds).toFixed(1)).join(' '));
    console.log('  viewer streams packets', first.map((x) => `${x.kind}:${x.unique}/${x.expected}`).join(' '));
  }
  // Media received: each sequence number once. Padding probes and duplicates cost the worker too,
  // so packets per core count every packet the receivers got (wirePps).
  const receivedPps = (s1.unique - s0.unique) / seconds;
  const wirePps = (s1.packets - s0.packets) / seconds;
  const workerCores = (c1 - c0) / seconds;
  const w: Window = {
    target: target.name,
    rep,
    viewers,
    connected: end.connected,
    seconds,
    perViewerPps,
    receivedPps,
    wirePps,
    paddingPps: (s1.padding - s0.padding) / seconds,
    expectedPps: perViewerPps * viewers,
    receivedRatio: receivedPps / (perViewerPps * viewers),
    lost: late.lost - s0.lost,
    recovered: s1.recovered - s0.recovered,
    workerCores,
    sinkCores: (k1 - k0) / seconds,
    usPerPacket: (workerCores * 1e6) / wirePps,
    ppsPerCore: wirePps / workerCores,
    viewersPerCore: viewers / workerCores,
    pass: false,
  };
  w.pass = w.lost === 0 && w.receivedRatio >= 0.99 && w.connected === viewers;
  console.log(
    `${target.name} rep ${rep} ${viewers} viewers: media ${Math.round(receivedPps)}/s (${(w.receivedRatio * 100).toFixed(1)} %), all ${Math.round(wirePps)}/s (padding ${Math.round(w.paddingPps)}/s), lost ${w.lost}, recovered ${w.recovered}, worker ${(workerCores * 100).toFixed(1)} %, receivers ${(w.sinkCores * 100).toFixed(1)} % → ${w.usPerPacket.toFixed(2)} µs/pkt, ${Math.round(w.ppsPerCore / 1000)}k pkt/s per core, ${Math.round(w.viewersPerCore)} viewers per core${w.pass ? '' : ' [FAIL]'}`,
  );
  return w;
}

async function runRep(kind: 'fourcast' | 'bare', rep: number): Promise<Window[]> {
  const target = kind === 'fourcast' ? await fourcastTarget() : await bareTarget();
  const sink = WebrtcSink.start();
  const sources = startSources(target);
  pin(target.workerPid, WORKER_CPU);
  pin(sink.pid, OTHER_CPU);
  const out: Window[] = [];
  try {
    await sleep(3000); // sources flowing
    let n = 0;
    for (const step of STEPS) {
      while (n < step) {
        const batch = Array.from({ length: Math.min(10, step - n) }, (_, i) => `${kind}-${rep}-${n + i}`);
        await Promise.all(batch.map((id) => target.addViewer(sink, id)));
        n += batch.length;
      }
      out.push(await measure(target, sink, n, rep));
    }
  } finally {
    for (const p of sources) p.kill('SIGTERM');
    await sink.stop();
    await target.close();
  }
  return out;
}

interface Overload {
  /** The node's admission settings: WORKER_MAX_PACKET_RATE, VIEWER_PACKET_RATE, WORKER_CPU_HEADROOM, and the receivers they allow a worker. */
  limits: { maxPacketRate: number; viewerPacketRate: number; cpuHeadroom: number; viewersPerWorker: number };
  /** The worker ever missed a health sample while busy (saturated), and whether the node killed it. */
  workerBusySeen: boolean;
  workerReplaced: boolean;
  tried: number;
  admitted: number;
  refused: number;
  /** Refusals by error code (server-busy expected). */
  codes: Record<string, number>;
  window: Window;
  /** The worker's answer time to a request during the window (ms): the channel stays responsive. */
  workerAnswerMsMax: number;
}

/**
 * Past capacity, the capacity is enforced: with the node's default admission settings
 * (WORKER_MAX_PACKET_RATE, VIEWER_PACKET_RATE, WORKER_CPU_HEADROOM) it refuses new viewers
 * with `server-busy` once the worker's packet budget is spent, the admitted ones keep every
 * packet, and the worker keeps answering.
 */
async function runOverload(): Promise<Overload> {
  const target = await fourcastTarget('default');
  const sink = WebrtcSink.start();
  const sources = startSources(target);
  pin(target.workerPid, WORKER_CPU);
  pin(sink.pid, OTHER_CPU);
  const codes: Record<string, number> = {};
  let admitted = 0;
  try {
    await sleep(3000);
    for (let n = 0; n < OVERLOAD; n += 10) {
      const results = await Promise.allSettled(Array.from({ length: Math.min(10, OVERLOAD - n) }, (_, i) => target.addViewer(sink, `overload-${n + i}`)));
      for (const r of results) {
        if (r.status === 'fulfilled') admitted++;
        else {
          const code = String((r.reason as { code?: string }).code ?? (r.reason as Error).message);
          codes[code] = (codes[code] ?? 0) + 1;
        }
      }
      await sleep(1000); // one CPU sample per two seconds: a ramp, not a burst
    }
    const answers: number[] = [];
    const firstPid = target.workerPid;
    let workerBusySeen = false;
    const busyWatch = setInterval(() => (workerBusySeen ||= target.node.pool.workers[0]!.busy), 200);
    const probe = setInterval(() => {
      const t = performance.now();
      // A worker that died (the node replaces one that stops answering) answers nothing: not a crash of the bench.
      void target.node.pool.workers[0]!.worker.getResourceUsage().then(
        () => answers.push(performance.now() - t),
        () => answers.push(Number.POSITIVE_INFINITY),
      );
    }, 500);
    const window = await measure(target, sink, admitted, 0);
    clearInterval(probe);
    clearInterval(busyWatch);
    const pool = target.node.pool;
    const limits = { maxPacketRate: pool.maxPacketRate, viewerPacketRate: pool.viewerPacketRate, cpuHeadroom: pool.cpuHeadroom, viewersPerWorker: pool.viewersPerWorker };
    const workerReplaced = pool.workers[0]!.pid !== firstPid;
    const refused = OVERLOAD - admitted;
    console.log(`overload: ${OVERLOAD} tried, ${admitted} admitted, ${refused} refused ${JSON.stringify(codes)}; worker answered within ${Math.round(Math.max(...answers))} ms`);
    return { limits, workerBusySeen, workerReplaced, tried: OVERLOAD, admitted, refused, codes, window, workerAnswerMsMax: Math.max(...answers) };
  } finally {
    for (const p of sources) p.kill('SIGTERM');
    await sink.stop();
    await target.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const from = process.env.BENCH_VIEWERS_RENDER;
  if (from) {
    const raw = JSON.parse(fs.readFileSync(from, 'utf8')) as Meta & { windows: Window[]; overload?: Overload };
    const { report, md } = render(raw, raw.windows, raw.overload);
    writeReport(OUT, report, md);
    return;
  }
  pin(process.pid, OTHER_CPU);
  // Chromium's own capabilities, from a real viewer page of a Fourcast node.
  {
    const probe = await fourcastTarget();
    try {
      const got = await chromiumRtpCapabilities(probe.node.urls.http, ROOM);
      caps = got.rtpCapabilities;
      console.log(`RTP capabilities from Chromium ${got.chromium}`);
      (main as { chromium?: string }).chromium = got.chromium;
    } finally {
      await probe.close();
    }
  }
  const windows: Window[] = [];
  for (let rep = 1; rep <= REPS; rep++) for (const t of TARGETS) windows.push(...(await runRep(t, rep)));
  const overload = OVERLOAD > 0 ? await runOverload() : undefined;

  const worker = await describeWorkerBinary().catch(() => undefined);
  const meta: Meta = {
    date: new Date().toISOString(),
    machine: { cores: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    chromium: (main as { chromium?: string }).chromium,
    worker: worker ? formatWorkerBinary(worker) : 'unknown',
    settings: { steps: STEPS, windowSeconds: WINDOW_S, settleSeconds: SETTLE_S, reps: REPS, targets: TARGETS, broadcasters: BROADCASTERS, video: `${VIDEO.source} ${VIDEO.encode.join(' ')}`, audio: `${AUDIO.source} ${AUDIO.encode.join(' ')}`, pinned: os.cpus().length >= 2 ? `worker on CPU ${WORKER_CPU}, the rest on CPU ${OTHER_CPU}` : 'no' },
    rtpCapabilities: caps,
  };
  const { report, md } = render(meta, windows, overload);
  writeReport(OUT, report, md);
}

interface Meta {
  date: string;
  machine: { cores: number; cpuModel: string; node: string };
  chromium: string | undefined;
  worker: string;
  settings: { steps: number[]; windowSeconds: number; settleSeconds: number; reps: number; targets?: ('fourcast' | 'bare')[]; broadcasters: number; video: string; audio: string; pinned: string };
  rtpCapabilities: ms.RtpCapabilities | undefined;
}

/**
 * The report, from the raw windows alone: a run's own, or a committed JSON's
 * (BENCH_VIEWERS_RENDER=<file>: the tables the docs quote are regenerated from it).
 */
function render(meta: Meta, windows: Window[], overload: Overload | undefined): { report: unknown; md: string } {
  const { steps: STEPS, reps: REPS, windowSeconds: WINDOW_S, settleSeconds: SETTLE_S } = meta.settings;
  const TARGETS = meta.settings.targets ?? [...new Set(windows.map((w) => w.target))];
  const summary = (REPS > 0 ? TARGETS : []).flatMap((t) =>
    STEPS.map((viewers) => {
      const ws = windows.filter((w) => w.target === t && w.viewers === viewers);
      const pick = (f: (w: Window) => number) => ({ median: median(ws.map(f)), min: Math.min(...ws.map(f)), max: Math.max(...ws.map(f)) });
      return { target: t, viewers, reps: ws.length, passed: ws.filter((w) => w.pass).length, usPerPacket: pick((w) => w.usPerPacket), ppsPerCore: pick((w) => w.ppsPerCore), viewersPerCore: pick((w) => w.viewersPerCore), receivedRatio: pick((w) => w.receivedRatio), lost: pick((w) => w.lost), workerCores: pick((w) => w.workerCores), sinkCores: pick((w) => w.sinkCores), perViewerPps: pick((w) => w.perViewerPps) };
    }),
  );
  // The marginal cost: worker CPU per extra packet between two steps of the same repetition
  // (fixed costs such as the eight ingests drop out), and what a core forwards at that cost.
  const marginal = (REPS > 0 ? TARGETS : []).flatMap((t) =>
    STEPS.slice(1).map((viewers, i) => {
      const from = STEPS[i]!;
      const us = [...new Set(windows.map((w) => w.rep))].flatMap((rep) => {
        const a = windows.find((w) => w.target === t && w.rep === rep && w.viewers === from);
        const b = windows.find((w) => w.target === t && w.rep === rep && w.viewers === viewers);
        return a && b && a.pass && b.pass ? [((b.workerCores - a.workerCores) * 1e6) / (b.wirePps - a.wirePps)] : [];
      });
      const perViewer = median(windows.filter((w) => w.target === t).map((w) => w.perViewerPps));
      const m = us.length ? median(us) : Number.NaN;
      return { target: t, from, to: viewers, reps: us.length, usPerPacket: m, min: us.length ? Math.min(...us) : Number.NaN, max: us.length ? Math.max(...us) : Number.NaN, ppsPerCore: 1e6 / m, viewersPerCore: 1e6 / m / perViewer };
    }),
  );
  const ratios = STEPS.map((viewers) => {
    const f = summary.find((s) => s.target === 'fourcast' && s.viewers === viewers);
    const b = summary.find((s) => s.target === 'bare' && s.viewers === viewers);
    // Each repetition runs Fourcast's steps, then bare's, minutes apart: a ratio per repetition
    // cancels the machine's slow drift (CPU steal on a shared VM) that medians of each alone keep.
    const perRep = [...new Set(windows.map((w) => w.rep))].flatMap((rep) => {
      const fw = windows.find((w) => w.target === 'fourcast' && w.rep === rep && w.viewers === viewers);
      const bw = windows.find((w) => w.target === 'bare' && w.rep === rep && w.viewers === viewers);
      return fw && bw ? [fw.ppsPerCore / bw.ppsPerCore] : [];
    });
    return { viewers, fourcastOverBare: f && b ? f.ppsPerCore.median / b.ppsPerCore.median : Number.NaN, perRep, perRepMedian: perRep.length ? median(perRep) : Number.NaN };
  });
  const report = {
    ...meta,
    windows,
    summary,
    marginal,
    ratios,
    overload,
  };
  const f0 = (v: number) => Math.round(v).toLocaleString('en-US');
  const spread = (x: { median: number; min: number; max: number }, fmt: (v: number) => string) => `${fmt(x.median)} (${fmt(x.min)}–${fmt(x.max)})`;
  const md = [
    `# Browser-shaped viewers per worker core (${report.date})`,
    '',
    `${report.machine.cores} cores, ${report.machine.cpuModel}; ${report.settings.pinned}. Worker: ${report.worker}. Receivers: pion/webrtc with Chromium ${report.chromium}'s RTP capabilities, DTLS-SRTP AEAD_AES_256_GCM, NACK/RTX, transport-cc feedback. Stage: ${report.settings.broadcasters} broadcasters × (VP8 ${report.settings.video}; Opus ${report.settings.audio}). ${WINDOW_S} s windows after ${SETTLE_S} s settling, ${REPS} repetitions, median (min–max). A window passes at 0 packets lost after NACK/RTX and ≥ 99 % of the producers' ingest × viewers received.`,
    '',
    '| target | viewers | passed | received | lost | worker CPU (cores) | receivers CPU (cores) | µs per packet | pkt/s per core | full-stage viewers per core |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...summary.map((s) => `| ${s.target} | ${s.viewers} | ${s.passed}/${s.reps} | ${spread(s.receivedRatio, (v) => `${(v * 100).toFixed(1)} %`)} | ${spread(s.lost, f0)} | ${spread(s.workerCores, (v) => v.toFixed(3))} | ${spread(s.sinkCores, (v) => v.toFixed(2))} | ${spread(s.usPerPacket, (v) => v.toFixed(2))} | ${spread(s.ppsPerCore, f0)} | ${spread(s.viewersPerCore, f0)} |`),
    '',
    `Per viewer (all eight tracks): ${f0(median(windows.map((w) => w.perViewerPps)))} packets/s. "µs per packet" and "per core" above are all-in (the worker's whole CPU over every packet the receivers got, fixed costs included).`,
    '',
    '## Marginal cost (between two steps of one repetition, passing windows only)',
    '',
    '| target | viewers | µs per extra packet | pkt/s per core at that cost | full-stage viewers per core |',
    '|---|---|---:|---:|---:|',
    ...marginal.map((m) => `| ${m.target} | ${m.from} → ${m.to} | ${Number.isFinite(m.usPerPacket) ? `${m.usPerPacket.toFixed(2)} (${m.min.toFixed(2)}–${m.max.toFixed(2)})` : 'n/a'} | ${Number.isFinite(m.ppsPerCore) ? f0(m.ppsPerCore) : 'n/a'} | ${Number.isFinite(m.viewersPerCore) ? f0(m.viewersPerCore) : 'n/a'} |`),
    '',
    '| viewers | Fourcast ÷ bare (pkt/s per core): ratio of the medians | per repetition | median of those |',
    '|---:|---:|---|---:|',
    ...ratios.map((r) => `| ${r.viewers} | ${Number.isFinite(r.fourcastOverBare) ? r.fourcastOverBare.toFixed(2) : 'n/a'} | ${r.perRep.map((x) => x.toFixed(2)).join(', ') || 'n/a'} | ${Number.isFinite(r.perRepMedian) ? r.perRepMedian.toFixed(2) : 'n/a'} |`),
    '',
    ...(overload
      ? [
          `## Past capacity (Fourcast, default admission: WORKER_MAX_PACKET_RATE ${f0(overload.limits.maxPacketRate)}, VIEWER_PACKET_RATE ${overload.limits.viewerPacketRate}, WORKER_CPU_HEADROOM ${overload.limits.cpuHeadroom})`,
          '',
          `${overload.tried} viewers tried to join, 10 a second, where the budget allows ${overload.limits.viewersPerWorker} receivers on the one worker: ${overload.admitted} admitted, ${overload.refused} refused (${Object.entries(overload.codes).map(([c, n]) => `${n} × ${c}`).join(', ') || 'none'}). The admitted ones over ${WINDOW_S} s: ${(overload.window.receivedRatio * 100).toFixed(1)} % received, ${overload.window.lost} lost, worker ${overload.window.workerCores.toFixed(3)} cores; the worker answered requests within ${Math.round(overload.workerAnswerMsMax)} ms (every 0.5 s), ${overload.workerBusySeen ? 'was seen busy (a missed health sample while saturated)' : 'never missed a health sample'}, and ${overload.workerReplaced ? 'WAS KILLED AND REPLACED' : 'was never replaced'}. ${overload.window.pass && !overload.workerReplaced ? 'Passed.' : 'FAILED.'}`,
          '',
        ]
      : []),
  ].join('\n');
  return { report, md };
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
