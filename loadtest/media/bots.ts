// Cheap media load bots: UDP sockets on 127.0.0.1 that receive probe consumers
// of a Fourcast room (POST /admin/rooms/:room/probes, PlainTransport, RTP or
// SRTP) and count per SSRC: packets, loss from sequence numbers (wrap-safe;
// reorders are not loss), bitrate and RFC 3550 jitter. Optionally a few
// genuine WebRTC viewers (werift) join through the real signaling protocol and
// tell whether the cheap bots tell the same story.
//
//   npx tsx loadtest/media/bots.ts --url http://127.0.0.1:8080 --token $ADMIN_TOKEN \
//       --room stage --bots 200 --seconds 20 [--srtp] [--placement origin] [--webrtc 2] \
//       [--engine native] [--sockets 20] [--keep]
//
// The room must have something on stage (a broadcaster, or an RTP ingest:
// POST /admin/rooms/:room/ingest). Prints one JSON report. Two engines count
// the packets: `node` (dgram sockets, ~5.5-6 µs of CPU per packet here) and
// `native` (loadtest/media/rtpsink.c, compiled on first use with `cc`:
// recvmmsg and kernel timestamps, ~2.8-3.6 µs per packet). One socket per bot
// by default; `--sockets K` shares K sockets (cheaper, but bursts then share
// one receive buffer). Importable: the capacity bench (bench/media/capacity.ts)
// drives a sink in a child process through `--serve` (IPC) so the bots' CPU
// is measured apart from the server's.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { RtpStreamStats, isRtcp, windowStats, type RtpStreamSnapshot, type WindowStats } from './rtpStats.js';
import { joinSignalingViewer, type SignalingViewer } from './signalingViewer.js';

// ---- the sink -------------------------------------------------------------------------

export interface ExpectedStream {
  port: number;
  ssrc: number;
  clockRate: number;
}

export interface BotSinkOptions {
  host?: string;
  /** Sockets shared by the bots (bot i uses socket i % sockets); default one socket per bot. */
  sockets?: number;
  /** SO_RCVBUF asked for each socket (the kernel caps it at net.core.rmem_max). Default 1 MiB. */
  recvBufferSize?: number;
}

export interface SinkCounters {
  rtcp: number;
  /** RTP packets of an SSRC nobody announced (counted nowhere else once streams are announced). */
  unknown: number;
  malformed: number;
}

/**
 * UDP sockets counting RTP per (port, SSRC). Streams announced with `expect`
 * get their clock rate (jitter in ms needs it); once any stream is announced,
 * packets of unannounced SSRCs (mediasoup's probation packets, say) are only
 * counted in `counters.unknown`.
 */
export class BotSink implements RtpSink {
  readonly ports: number[] = [];
  readonly counters: SinkCounters = { rtcp: 0, unknown: 0, malformed: 0 };
  private readonly sockets: dgram.Socket[] = [];
  private readonly streams = new Map<number, RtpStreamStats>();
  private strict = false;

  private constructor(private readonly host: string) {}

  static async open(bots: number, opts: BotSinkOptions = {}): Promise<BotSink> {
    const sink = new BotSink(opts.host ?? '127.0.0.1');
    await sink.add(bots, opts);
    return sink;
  }

  /** Opens sockets for `bots` more bots; returns their ports (one per bot). */
  async add(bots: number, opts: Omit<BotSinkOptions, 'host'> = {}): Promise<number[]> {
    if (bots <= 0) return [];
    const count = Math.max(1, Math.min(bots, opts.sockets ?? bots));
    const opened: number[] = [];
    for (let i = 0; i < count; i++) opened.push(await this.openSocket(opts.recvBufferSize ?? 1 << 20));
    const ports = Array.from({ length: bots }, (_, i) => opened[i % count]!);
    this.ports.push(...ports);
    return ports;
  }

  expect(streams: ExpectedStream[]): void {
    this.strict = true;
    for (const s of streams) {
      const key = s.port * 0x100000000 + s.ssrc;
      if (!this.streams.has(key)) this.streams.set(key, new RtpStreamStats(s.ssrc, s.clockRate, s.port));
    }
  }

  snapshot(): RtpStreamSnapshot[] {
    return [...this.streams.values()].map((s) => s.snapshot(`${s.port}:${s.ssrc}`));
  }

  close(): void {
    for (const s of this.sockets) s.close();
    this.sockets.length = 0;
    this.ports.length = 0;
    this.streams.clear();
  }

  private async openSocket(recvBufferSize: number): Promise<number> {
    const socket = dgram.createSocket({ type: 'udp4', recvBufferSize });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, this.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const port = socket.address().port;
    const base = port * 0x100000000;
    const streams = this.streams;
    const counters = this.counters;
    socket.on('message', (msg) => {
      if (msg.length < 12 || msg[0]! >> 6 !== 2) {
        counters.malformed++;
        return;
      }
      if (isRtcp(msg)) {
        counters.rtcp++;
        return;
      }
      const ssrc = msg.readUInt32BE(8);
      let s = streams.get(base + ssrc);
      if (!s) {
        if (this.strict) {
          counters.unknown++;
          return;
        }
        s = new RtpStreamStats(ssrc, 90000, port);
        streams.set(base + ssrc, s);
      }
      s.onPacket(msg.readUInt16BE(2), msg.readUInt32BE(4), msg.length, performance.now());
    });
    socket.on('error', () => undefined);
    this.sockets.push(socket);
    return port;
  }
}

/** What both sink engines offer (the Node one answers synchronously). */
export interface RtpSink {
  readonly ports: number[];
  add(bots: number, opts?: Omit<BotSinkOptions, 'host'>): Promise<number[]>;
  expect(streams: ExpectedStream[]): void | Promise<void>;
  snapshot(): RtpStreamSnapshot[] | Promise<RtpStreamSnapshot[]>;
  close(): void;
  /** The process doing the counting when it is not this one (native engine). */
  readonly pid?: number | undefined;
}

const SINK_SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rtpsink.c');

/**
 * Compiles loadtest/media/rtpsink.c once (cached by source hash under
 * $XDG_CACHE_HOME/fourcast) and returns the binary's path. Throws when no C
 * compiler is at hand.
 */
export function buildNativeSink(): string {
  const src = fs.readFileSync(SINK_SOURCE);
  const hash = crypto.createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'fourcast');
  const bin = path.join(dir, `rtpsink-${hash}`);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync(process.env.CC ?? 'cc', ['-O2', '-o', tmp, SINK_SOURCE], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot build the native RTP sink: ${r.error?.message ?? r.stderr}`);
  fs.renameSync(tmp, bin);
  return bin;
}

/**
 * The cheap engine: the same counting in C (recvmmsg, kernel timestamps), in
 * its own process. About half the CPU per packet of Node's dgram here (2.8-3.6
 * µs vs 5.5-6 µs on the 2-core VM, mostly kernel receive cost either way).
 */
export class NativeSink implements RtpSink {
  readonly ports: number[] = [];
  private readonly queue: ((line: string) => void)[] = [];
  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    readline.createInterface({ input: proc.stdout }).on('line', (line) => this.queue.shift()?.(line));
    proc.stderr.on('data', (d: Buffer) => process.stderr.write(`rtpsink: ${d.toString()}`));
  }

  static async open(bots: number, opts: Omit<BotSinkOptions, 'host'> = {}): Promise<NativeSink> {
    const sink = new NativeSink(spawn(buildNativeSink(), [], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await sink.add(bots, opts);
    return sink;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  async add(bots: number, opts: Omit<BotSinkOptions, 'host'> = {}): Promise<number[]> {
    if (bots <= 0) return [];
    const count = Math.max(1, Math.min(bots, opts.sockets ?? bots));
    const { ports: opened } = JSON.parse(await this.command(`open ${count} ${opts.recvBufferSize ?? 1 << 20}`)) as { ports: number[] };
    const ports = Array.from({ length: bots }, (_, i) => opened[i % count]!);
    this.ports.push(...ports);
    return ports;
  }

  async expect(streams: ExpectedStream[]): Promise<void> {
    for (let i = 0; i < streams.length; i += 2000) {
      await this.command(`expect ${streams.slice(i, i + 2000).map((s) => `${s.port}:${s.ssrc}:${s.clockRate}`).join(',')}`);
    }
  }

  async snapshot(): Promise<RtpStreamSnapshot[]> {
    return (JSON.parse(await this.command('snapshot')) as { streams: RtpStreamSnapshot[] }).streams;
  }

  async counters(): Promise<SinkCounters> {
    return (JSON.parse(await this.command('snapshot')) as { counters: SinkCounters }).counters;
  }

  close(): void {
    this.proc.stdin.end('quit\n');
    this.ports.length = 0;
  }

  private command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.proc.exitCode !== null) return reject(new Error('rtpsink exited'));
      this.queue.push(resolve);
      this.proc.stdin.write(`${line}\n`);
    });
  }
}

/** Opens a sink with the named engine: 'native' (C, cheaper) or 'node' (dgram). */
export async function openSink(engine: 'native' | 'node', bots: number, opts: Omit<BotSinkOptions, 'host'> = {}): Promise<RtpSink> {
  return engine === 'native' ? NativeSink.open(bots, opts) : BotSink.open(bots, opts);
}

// ---- the admin API --------------------------------------------------------------------

export interface ProbeConsumer {
  consumerId: string;
  producerId: string;
  kind: 'audio' | 'video';
  ssrc: number;
  payloadType: number;
  clockRate: number;
}
export interface CreatedProbe {
  probeId: string;
  port: number;
  worker: number;
  consumers: ProbeConsumer[];
}
export interface ProbeStatsReply {
  at: number;
  probes?: { probeId: string; port: number; worker: number; consumers: { consumerId: string; producerId: string; kind: string; ssrc: number; packetCount: number; byteCount: number }[] }[];
  totals: { probes: number; consumers: number; sampled: number; packetCount: number; byteCount: number; byWorker: { worker: number; consumers: number; packetCount: number }[] };
  producers: { producerId: string; kind: string; packetCount: number; byteCount: number; packetsLost: number }[];
}
export interface IngestReply {
  producerId: string;
  peerId: string;
  ip: string;
  rtpPort: number;
  rtcpPort: number;
}

/** A small client of Fourcast's admin media tools (bearer token = ADMIN_TOKEN). */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(new URL(path, this.baseUrl), {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw Object.assign(new Error(`${method} ${path} → ${res.status}: ${text}`), { status: res.status });
    return JSON.parse(text) as T;
  }

  startIngest(room: string, spec: { kind: 'video' | 'audio'; name: string; payloadType: number; ssrc: number; simulcastSsrcs?: number[]; codec: 'VP8' | 'H264' | 'opus' }): Promise<IngestReply> {
    return this.call('POST', `/admin/rooms/${encodeURIComponent(room)}/ingest`, spec);
  }

  stopIngest(room: string, producerId: string): Promise<unknown> {
    return this.call('DELETE', `/admin/rooms/${encodeURIComponent(room)}/ingest/${encodeURIComponent(producerId)}`);
  }

  /** Creates probes in requests of at most 500 ports. */
  async createProbes(room: string, body: { ip: string; ports: number[]; srtp?: boolean; placement?: 'spread' | 'origin' }): Promise<CreatedProbe[]> {
    const out: CreatedProbe[] = [];
    for (let i = 0; i < body.ports.length; i += 500) {
      const reply = await this.call<{ probes: CreatedProbe[] }>('POST', `/admin/rooms/${encodeURIComponent(room)}/probes`, { ...body, ports: body.ports.slice(i, i + 500) });
      out.push(...reply.probes);
    }
    return out;
  }

  /** With `sample`, totals are extrapolated from a few consumers per (worker, producer): a crisp snapshot on a busy worker. */
  probeStats(room: string, detail = true, sample?: number): Promise<ProbeStatsReply> {
    return this.call('GET', `/admin/rooms/${encodeURIComponent(room)}/probes/stats?detail=${detail}${sample ? `&sample=${sample}` : ''}`);
  }

  deleteProbes(room: string): Promise<{ closed: number }> {
    return this.call('DELETE', `/admin/rooms/${encodeURIComponent(room)}/probes`);
  }
}

/** What the sink must listen for, from the probes the server created. */
export function expectedStreams(probes: CreatedProbe[]): ExpectedStream[] {
  return probes.flatMap((p) => p.consumers.map((c) => ({ port: p.port, ssrc: c.ssrc, clockRate: c.clockRate })));
}

// ---- comparing bots with genuine viewers ------------------------------------------------

export interface Agreement {
  botPpsPerStream: number;
  webrtcPpsPerStream: number;
  /** |webrtc - bots| / bots, on packets/s per stream. */
  ppsDifference: number;
  botLoss: number;
  webrtcLoss: number;
  agree: boolean;
}

/** Genuine viewers and bots agree when per-stream packets/s differ by at most `tolerance` and both see loss within 1 point. */
export function compareViewers(bots: WindowStats, webrtc: WindowStats, tolerance = 0.1): Agreement {
  const b = bots.perStreamPps.mean;
  const w = webrtc.perStreamPps.mean;
  const ppsDifference = b > 0 ? Math.abs(w - b) / b : w > 0 ? 1 : 0;
  return {
    botPpsPerStream: b,
    webrtcPpsPerStream: w,
    ppsDifference,
    botLoss: bots.lossRatio,
    webrtcLoss: webrtc.lossRatio,
    agree: ppsDifference <= tolerance && Math.abs(bots.lossRatio - webrtc.lossRatio) <= 0.01,
  };
}

// ---- IPC mode (driven by the capacity bench) ----------------------------------------------

export type BotCommand =
  | { op: 'add'; bots: number; sockets?: number; recvBufferSize?: number; engine?: 'native' | 'node' }
  | { op: 'expect'; streams: ExpectedStream[] }
  | { op: 'snapshot' }
  | { op: 'reset' }
  | { op: 'webrtc'; wsUrl: string; room: string; count: number }
  | { op: 'webrtcSnapshot' }
  | { op: 'webrtcClose' }
  | { op: 'exit' };

function serve(): void {
  let sink: RtpSink | undefined;
  let viewers: SignalingViewer[] = [];
  const send = (id: number, ok: boolean, data: unknown) => process.send!({ id, ok, data });
  process.on('message', (raw: { id: number; cmd: BotCommand }) => {
    const { id, cmd } = raw;
    void (async () => {
      switch (cmd.op) {
        case 'add':
          sink ??= await openSink(cmd.engine ?? 'node', 0);
          return { ports: await sink.add(cmd.bots, { sockets: cmd.sockets, recvBufferSize: cmd.recvBufferSize }), pids: [process.pid, ...(sink.pid ? [sink.pid] : [])] };
        case 'expect':
          await sink?.expect(cmd.streams);
          return {};
        case 'snapshot':
          return { at: performance.now(), streams: (await sink?.snapshot()) ?? [] };
        case 'reset':
          sink?.close();
          sink = undefined;
          return {};
        case 'webrtc':
          for (let i = 0; i < cmd.count; i++) viewers.push(await joinSignalingViewer({ wsUrl: cmd.wsUrl, room: cmd.room, name: `werift ${i + 1}` }));
          return { streams: viewers.flatMap((v) => v.streams) };
        case 'webrtcSnapshot':
          return { at: performance.now(), streams: viewers.flatMap((v) => v.snapshot()) };
        case 'webrtcClose':
          await Promise.all(viewers.map((v) => v.close()));
          viewers = [];
          return {};
        case 'exit':
          sink?.close();
          setImmediate(() => process.exit(0));
          return {};
      }
    })().then(
      (data) => send(id, true, data),
      (err: unknown) => send(id, false, String((err as Error)?.stack ?? err)),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ id: 0, ok: true, data: { ready: true } });
}

// ---- CLI --------------------------------------------------------------------------------

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: process.env.FOURCAST_URL ?? 'http://127.0.0.1:8080' },
      token: { type: 'string', default: process.env.ADMIN_TOKEN },
      room: { type: 'string', default: 'stage' },
      bots: { type: 'string', default: '50' },
      sockets: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      srtp: { type: 'boolean', default: false },
      placement: { type: 'string', default: 'spread' },
      webrtc: { type: 'string', default: '0' },
      keep: { type: 'boolean', default: false },
      serve: { type: 'boolean', default: false },
      engine: { type: 'string', default: 'node' },
    },
  });
  if (values.serve) return serve();
  if (!values.token) throw new Error('--token (or ADMIN_TOKEN) is required: the probe routes are admin routes');
  const bots = Number(values.bots);
  const seconds = Number(values.seconds);
  const admin = new AdminClient(values.url, values.token);
  const room = values.room;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();

  const engine = values.engine === 'native' ? 'native' : 'node';
  const sink = await openSink(engine, bots, { sockets: values.sockets ? Number(values.sockets) : undefined });
  const sinkCpu0 = sink.pid ? processCpuSeconds(sink.pid) : 0;
  const viewers: SignalingViewer[] = [];
  try {
    const probes = await admin.createProbes(room, { ip: '127.0.0.1', ports: sink.ports, srtp: values.srtp, placement: values.placement as 'spread' | 'origin' });
    await sink.expect(expectedStreams(probes));
    const webrtc = Number(values.webrtc);
    if (webrtc > 0) {
      const { wsUrl } = await (await fetch(new URL('/api/client-config', values.url))).json() as { wsUrl: string };
      for (let i = 0; i < webrtc; i++) viewers.push(await joinSignalingViewer({ wsUrl, room, name: `werift ${i + 1}` }));
    }
    await sleep(Number(values.warmup) * 1000);

    const before = { bots: await sink.snapshot(), webrtc: viewers.flatMap((v) => v.snapshot()), server: await admin.probeStats(room, false, 8), at: performance.now() };
    await sleep(seconds * 1000);
    const after = { bots: await sink.snapshot(), webrtc: viewers.flatMap((v) => v.snapshot()), server: await admin.probeStats(room, false, 8), at: performance.now() };
    const window = (after.at - before.at) / 1000;

    const botWindow = windowStats(before.bots, after.bots, window);
    const webrtcWindow = viewers.length ? windowStats(before.webrtc, after.webrtc, window) : undefined;
    const serverPps = (after.server.totals.packetCount - before.server.totals.packetCount) / ((after.server.at - before.server.at) / 1000);
    const prev = new Map(before.bots.map((s) => [s.key, s]));
    const perBot = probes.map((p) => ({
      probeId: p.probeId,
      port: p.port,
      worker: p.worker,
      streams: p.consumers.map((c) => {
        const a = after.bots.find((s) => s.key === `${p.port}:${c.ssrc}`);
        const b = prev.get(`${p.port}:${c.ssrc}`);
        const w = windowStats(b ? [b] : [], a ? [a] : [], window);
        return { ssrc: c.ssrc, kind: c.kind, producerId: c.producerId, packetsPerSecond: w.packetsPerSecond, kbps: w.bitsPerSecond / 1000, lossRatio: w.lossRatio, jitterMs: a?.jitterMs ?? 0 };
      }),
    }));
    const cpu = process.cpuUsage(cpu0);
    const sinkCpu = sink.pid ? processCpuSeconds(sink.pid) - sinkCpu0 : 0;
    const report = {
      room,
      bots,
      sockets: values.sockets ? Number(values.sockets) : bots,
      engine,
      srtp: values.srtp,
      placement: values.placement,
      windowSeconds: window,
      totals: botWindow,
      server: { forwardedPacketsPerSecond: serverPps, producers: after.server.producers, byWorker: after.server.totals.byWorker },
      counters: sink instanceof BotSink ? sink.counters : sink instanceof NativeSink ? await sink.counters() : undefined,
      webrtc: webrtcWindow && { viewers: viewers.length, totals: webrtcWindow, agreement: compareViewers(botWindow, webrtcWindow) },
      botProcess: {
        cpuShareOfCore: ((cpu.user + cpu.system) / 1000 + sinkCpu * 1000) / (performance.now() - t0),
        note: 'this process (and the native sink process); includes werift viewers when --webrtc > 0',
      },
      perBot,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await Promise.all(viewers.map((v) => v.close()));
    if (!values.keep) await admin.deleteProbes(room).catch(() => undefined);
    sink.close();
  }
}

/** utime + stime of a process, seconds (USER_HZ 100). */
function processCpuSeconds(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  cli().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
