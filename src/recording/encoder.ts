import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { recordingSdp, type SdpTrack } from './sdp.js';
import { portsBoundBy, reservePortPairs } from './udpPorts.js';

export interface EncoderExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Fourcast asked it to end (stop or abort); otherwise it died on its own. */
  requested: boolean;
  /** It ignored the RTCP BYE and SIGINT and was killed: its file has no index or duration. */
  forced: boolean;
  /** The end of what it wrote to stderr (errors only). */
  stderr: string;
}

export interface EncoderOptions {
  /** The ffmpeg command (RECORDING_FFMPEG). */
  ffmpeg: string;
  /** Prepended to the command line (`encoderLauncher()`). */
  launcher?: readonly string[];
  /** One per m-line, in the order of the ports the encoder gets. */
  tracks: readonly Omit<SdpTrack, 'port'>[];
  output: string;
  format: 'webm' | 'matroska';
  log: Logger;
  /** Aborting a start kills the process at once. */
  signal?: AbortSignal | undefined;
  /** Longest wait for ffmpeg to bind its ports (it takes ~0.1 s; a loaded machine, longer). */
  listenTimeoutMs?: number;
}

interface EncoderEvents {
  exit: [EncoderExit];
}

/** ffmpeg could not be started or did not get to listening. */
export class EncoderStartError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'EncoderStartError';
  }
}

/** A BYE ends ffmpeg within milliseconds; SIGINT is the fallback (it only works while packets arrive or during the start). */
const BYE_GRACE_MS = 2000;
/** After SIGINT, the trailer is written at once; past this the process is stuck. */
const INTERRUPT_GRACE_MS = 3000;
/**
 * An empty receiver report and a BYE (RFC 3550 §6.6) in one compound RTCP
 * packet. ffmpeg ignores RTCP packets under 12 bytes, hence the report.
 */
const RTCP_BYE = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 0, 0x81, 203, 0, 1, 0, 0, 0, 0]);
const STDERR_KEEP = 4096;
const START_ATTEMPTS = 3;

/**
 * One ffmpeg process writing one segment: it receives the RTP described by an
 * SDP (a `data:` URI, so no file is left behind) on 127.0.0.1 and copies the
 * packets, without transcoding, into WebM or Matroska.
 *
 * `-flush_packets 1` makes every packet a write: without it ffmpeg 5.1 keeps
 * going on a full disk and only says "No space left on device" at the end
 * (measured: a 100 kB tmpfs filled after 8 s; ffmpeg exited 0 at 15 s); with
 * it, the first failed write ends the process with that message.
 *
 * Stopping: an RTCP BYE on every stream is ffmpeg's end of input: it writes
 * its trailer and exits 0, whether packets still arrive or the broadcaster is
 * gone. Signals do not do that as well: the first SIGINT is only seen when a
 * packet arrives, and a second one also aborts the writing of the trailer.
 * SIGINT, then SIGKILL, remain as fallbacks. The process runs in its own
 * session (`detached`), so a Ctrl-C meant for the server does not end
 * recordings before the server closes them.
 */
export class Encoder extends EventEmitter<EncoderEvents> {
  readonly pid: number;
  private readonly proc: ChildProcess;
  private stderrTail = '';
  private exitInfo: EncoderExit | undefined;
  private readonly exited: Promise<EncoderExit>;
  private requested = false;
  private forced = false;
  private stopping: Promise<EncoderExit> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];

  /** Starts ffmpeg and resolves once it listens on every port (retrying with fresh ports when one was taken meanwhile). */
  static async start(opts: EncoderOptions): Promise<Encoder> {
    for (let attempt = 1; ; attempt++) {
      const { ports, release } = await reservePortPairs(opts.tracks.length);
      const sdp = recordingSdp(opts.tracks.map((t, i) => ({ ...t, port: ports[i]! })));
      await release();
      if (opts.signal?.aborted) throw new EncoderStartError('aborted', '');
      const encoder = new Encoder(opts, ports, sdp);
      try {
        await encoder.listening(opts.signal, opts.listenTimeoutMs ?? 10_000);
        return encoder;
      } catch (err) {
        if (attempt < START_ATTEMPTS && err instanceof EncoderStartError && /address already in use/i.test(err.stderr)) continue;
        throw err;
      }
    }
  }

  private constructor(
    private readonly opts: EncoderOptions,
    /** The RTP port of each track (RTCP: the next port). */
    readonly ports: readonly number[],
    sdp: string,
  ) {
    super();
    const args = [
      '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error',
      '-protocol_whitelist', 'data,udp,rtp',
      // The SDP demuxer binds every port on all interfaces unless told otherwise.
      '-localaddr', '127.0.0.1',
      // The file is opened once the input is probed: stop at the first key frame's size instead of
      // also counting 20 frames for a frame rate (nothing is lost meanwhile, but a crash then would lose it all).
      '-fpsprobesize', '0',
      '-f', 'sdp', '-i', `data:application/sdp;base64,${Buffer.from(sdp).toString('base64')}`,
      '-map', '0', '-c', 'copy',
      '-flush_packets', '1',
      // A cluster is written when it ends: at most 1 s (instead of 5 s) is lost when the encoder dies.
      '-cluster_time_limit', '1000',
      '-f', opts.format, '-y', opts.output,
    ];
    const [cmd, ...pre] = [...(opts.launcher ?? []), opts.ffmpeg];
    this.proc = spawn(cmd!, [...pre, ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.pid = this.proc.pid ?? -1;
    this.proc.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-STDERR_KEEP);
    });
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exitInfo) return;
        for (const t of this.timers) clearTimeout(t);
        this.exitInfo = { code, signal, requested: this.requested, forced: this.forced, stderr: this.stderrTail.trim() };
        opts.log.debug({ pid: this.pid, ...this.exitInfo }, 'encoder exited');
        this.emit('exit', this.exitInfo);
        resolve(this.exitInfo);
      };
      this.proc.once('close', done);
      this.proc.once('error', (err) => {
        this.stderrTail += err.message;
        done(null, null);
      });
    });
    opts.log.debug({ pid: this.pid, ports, output: opts.output }, 'encoder started');
  }

  get exit(): EncoderExit | undefined {
    return this.exitInfo;
  }

  /** Ends the process, its file closed cleanly, and resolves with how it ended. */
  stop(): Promise<EncoderExit> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    if (this.stopping) return this.stopping;
    this.requested = true;
    this.sendBye();
    this.later(BYE_GRACE_MS, () => this.signal('SIGINT'));
    this.later(BYE_GRACE_MS + INTERRUPT_GRACE_MS, () => {
      this.forced = true;
      this.signal('SIGKILL');
    });
    this.stopping = this.exited;
    return this.stopping;
  }

  /** Kills the process (a start given up: nothing worth keeping was written). */
  kill(): Promise<EncoderExit> {
    if (!this.exitInfo) {
      this.requested = true;
      this.signal('SIGKILL');
    }
    return this.exited;
  }

  private async listening(signal: AbortSignal | undefined, timeoutMs: number): Promise<void> {
    const all = [...this.ports, ...this.ports.map((p) => p + 1)];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exitInfo) {
        const { code, signal: sig, stderr } = this.exitInfo;
        const how = code !== null ? `exited (code ${code})` : sig ? `was killed (${sig})` : 'could not be run';
        throw new EncoderStartError(`${this.opts.ffmpeg} ${how} before it listened: ${firstLine(stderr) || 'no message'}`, stderr);
      }
      if (signal?.aborted || Date.now() > deadline) {
        await this.kill();
        throw new EncoderStartError(signal?.aborted ? 'aborted' : `${this.opts.ffmpeg} did not bind its RTP ports within ${timeoutMs} ms`, this.stderrTail);
      }
      if (this.pid > 0 && (await portsBoundBy(this.pid, all))) return;
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** One BYE per stream, to its RTCP port: ffmpeg ends its input once every stream said BYE. */
  private sendBye(): void {
    const socket = dgram.createSocket('udp4');
    socket.on('error', () => socket.close());
    let left = this.ports.length;
    for (const port of this.ports) {
      socket.send(RTCP_BYE, port + 1, '127.0.0.1', () => {
        if (--left === 0) socket.close();
      });
    }
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.exitInfo) return;
    try {
      this.proc.kill(sig);
    } catch {
      /* already gone */
    }
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}

/**
 * What to start each encoder with: `setpriv --pdeathsig KILL --` when it
 * works, so an encoder dies with this process instead of waiting forever for
 * packets that will not come (a killed server leaves no ffmpeg behind; the
 * file keeps what was written, without its index). KILL, not INT: with no
 * packets arriving, ffmpeg only notices a second SIGINT.
 */
export async function encoderLauncher(): Promise<readonly string[]> {
  const launcher = ['setpriv', '--pdeathsig', 'KILL', '--'];
  return (await runs(launcher[0]!, [...launcher.slice(1), 'true'])) === true ? launcher : [];
}

/** true when `cmd args` exits 0; otherwise what went wrong. */
export function runs(cmd: string, args: readonly string[]): Promise<true | string> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: 'ignore' });
    const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ENOENT' ? 'not found' : err.message);
    });
    p.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? true : `it exited with ${signal ?? `code ${code}`}`);
    });
  });
}

/** The first non-empty line of a process's output: ffmpeg says the cause first, then what failed because of it. */
export function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? '';
}
