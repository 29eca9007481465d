import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import { MEDIA_REQUEST_TIMEOUT_MS, withTimeout } from '../media/timeout.js';
import type { MediaSource } from '../protocol/messages.js';
import { Encoder, firstLine, type EncoderExit } from './encoder.js';
import { codecName, containerFor } from './sdp.js';

/** Why a segment ended. The last three are failures (counted in fourcast_recording_failures_total). */
export const segmentEndReasons = ['stopped', 'left-stage', 'tracks-changed', 'media-lost', 'room-closed', 'shutdown', 'encoder-died', 'disk-full', 'start-failed'] as const;
export type SegmentEndReason = (typeof segmentEndReasons)[number];
export const failureReasons = ['encoder-died', 'disk-full', 'start-failed'] as const;
export type FailureReason = (typeof failureReasons)[number];
/** Reasons a caller may close a segment with (failures come from the segment itself). */
export type CloseReason = Exclude<SegmentEndReason, FailureReason>;

export interface SegmentTrack {
  producer: ms.Producer;
  source: MediaSource;
}

export interface SegmentInfo {
  index: number;
  peerId: string;
  name: string;
  /** Relative to the recording's folder. */
  file: string;
  tracks: { kind: ms.MediaKind; codec: string; source: MediaSource; producerId: string }[];
  state: 'recording' | 'stopping' | 'ended' | 'failed';
  /** When media started to flow to the encoder. */
  startedAt: string | null;
  startedAtMs: number | null;
  endedAt: string | null;
  endedAtMs: number | null;
  endReason: SegmentEndReason | null;
  /** What went wrong (failures), or what is wrong with an ended file. */
  error: string | null;
  /** The encoder's process id (ffmpeg). */
  pid: number | null;
  exit: { code: number | null; signal: string | null } | null;
  /** File size once the segment ended. */
  bytes: number | null;
  /** The failed segment this one replaces (it restarted the encoder). */
  replaces: number | null;
}

export interface SegmentOptions {
  index: number;
  peer: { id: string; name: string };
  tracks: SegmentTrack[];
  /** The router the producers live on (the room's origin). */
  router: () => Promise<ms.Router>;
  folder: string;
  /** File name without extension; the container decides it. */
  baseName: string;
  ffmpeg: string;
  launcher?: readonly string[];
  log: Logger;
  replaces?: number | undefined;
  /** Test hook: called with the output path just before the encoder opens it. */
  onFile?: ((file: string) => void) | undefined;
}

interface SegmentEvents {
  /** Every consumer closed (their producers or transports went): nothing is left to record. */
  mediagone: [transportClosed: boolean];
  /** The segment reached its final state (also when a start was abandoned: `listed` is false then). */
  end: [];
}

type State = 'starting' | SegmentInfo['state'] | 'abandoned';

/** The start was overtaken: a close, or the encoder exiting. */
class Abandoned extends Error {}
/** A producer or transport closed during the start (a broadcaster leaving, a worker dying): nothing to record, nothing failed. */
class MediaGone extends Error {}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * One broadcaster's interval on stage: a PlainTransport and a paused consumer
 * per track on the origin router, and one encoder writing them into a file.
 * Created objects are owned from the moment they exist and every await is
 * followed by a check that the segment is still wanted, so a close during the
 * start leaves no transport and no process behind. The encoder gets media only
 * once it listens (consumers resumed then, and a key frame asked for).
 */
export class Segment extends EventEmitter<SegmentEvents> {
  readonly index: number;
  readonly peerId: string;
  readonly key: string;
  private state: State = 'starting';
  private readonly transports: ms.PlainTransport[] = [];
  private readonly consumers: ms.Consumer[] = [];
  private encoder: Encoder | undefined;
  private readonly abort = new AbortController();
  private closeReason: CloseReason | undefined;
  private readonly file: string;
  private readonly container: ReturnType<typeof containerFor>;
  private startedAtMs: number | null = null;
  private endedAtMs: number | null = null;
  private endReason: SegmentEndReason | null = null;
  private error: string | null = null;
  private bytes: number | null = null;
  private readonly finished: Promise<void>;
  private markFinished!: () => void;

  constructor(private readonly opts: SegmentOptions) {
    super();
    this.index = opts.index;
    this.peerId = opts.peer.id;
    this.key = segmentKey(opts.tracks);
    this.container = containerFor(opts.tracks.map((t) => codecOf(t.producer).mimeType));
    this.file = `${opts.baseName}.${this.container.extension}`;
    this.finished = new Promise((resolve) => (this.markFinished = resolve));
  }

  /** Shown in the manifest: it recorded, or it failed. A start abandoned (stop, leave) recorded nothing and is not listed. */
  get listed(): boolean {
    return this.state !== 'starting' && this.state !== 'abandoned';
  }

  /** Running or about to: it counts as the peer's segment. */
  get active(): boolean {
    return this.state === 'starting' || this.state === 'recording';
  }

  get recording(): boolean {
    return this.state === 'recording';
  }

  get failure(): FailureReason | undefined {
    return this.state === 'failed' ? (this.endReason as FailureReason) : undefined;
  }

  /** The failed segment this one replaces. */
  get replaces(): number | undefined {
    return this.opts.replaces;
  }

  /** How long it recorded (ms), once started. */
  get ranMs(): number {
    return this.startedAtMs === null ? 0 : (this.endedAtMs ?? Date.now()) - this.startedAtMs;
  }

  /** Resolves once the segment is running or has ended; never rejects (a failure is its state). */
  async start(): Promise<void> {
    try {
      await this.open();
    } catch (err) {
      await this.teardown(true);
      if (this.closeReason || err instanceof MediaGone) return this.finish('abandoned', this.closeReason ?? 'media-lost');
      const message = err instanceof Abandoned ? 'the encoder exited while starting' : (err as Error).message;
      this.error = this.encoder?.exit ? firstLine(this.encoder.exit.stderr) || message : message;
      this.opts.log.warn({ segment: this.index, err: this.error }, 'recording segment failed to start');
      return this.finish('failed', 'start-failed');
    }
    // A close from here on finds the segment recording and shuts it down itself.
  }

  /** Ends the segment (idempotent); resolves once its file is closed and its media objects are gone. */
  close(reason: CloseReason): Promise<void> {
    if (!this.closeReason && (this.state === 'starting' || this.state === 'recording')) {
      this.closeReason = reason;
      if (this.state === 'starting') this.abort.abort();
      else void this.shutdown(reason);
    }
    return this.finished;
  }

  describe(): SegmentInfo {
    const exit = this.encoder?.exit;
    return {
      index: this.index,
      peerId: this.peerId,
      name: this.opts.peer.name,
      file: this.file,
      tracks: this.opts.tracks.map((t) => ({ kind: t.producer.kind, codec: codecName(codecOf(t.producer).mimeType), source: t.source, producerId: t.producer.id })),
      state: this.state === 'starting' || this.state === 'abandoned' ? 'ended' : this.state,
      startedAt: iso(this.startedAtMs),
      startedAtMs: this.startedAtMs,
      endedAt: iso(this.endedAtMs),
      endedAtMs: this.endedAtMs,
      endReason: this.endReason,
      error: this.error,
      pid: this.encoder?.pid ?? null,
      exit: exit ? { code: exit.code, signal: exit.signal } : null,
      bytes: this.bytes,
      replaces: this.opts.replaces ?? null,
    };
  }

  private async open(): Promise<void> {
    const router = await this.opts.router();
    this.check();
    for (const { producer } of this.opts.tracks) {
      const transport = await this.timed(
        router.createPlainTransport({
          listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
          // ffmpeg takes RTCP on its RTP port + 1.
          rtcpMux: false,
          comedia: false,
          appData: { recording: true },
        }),
        'createPlainTransport',
        (t) => t.close(),
      );
      this.transports.push(transport);
      this.check();
      const consumer = await this.timed(
        transport.consume({ producerId: producer.id, rtpCapabilities: recorderCapabilities(router, producer), paused: true, appData: { recording: true } }),
        'consume',
        (c) => c.close(),
      );
      this.consumers.push(consumer);
      this.check();
      consumer.on('producerclose', () => this.consumerGone(false));
      consumer.on('transportclose', () => this.consumerGone(true));
    }
    const file = path.join(this.opts.folder, this.file);
    this.opts.onFile?.(file);
    this.encoder = await Encoder.start({
      ffmpeg: this.opts.ffmpeg,
      launcher: this.opts.launcher,
      tracks: this.consumers.map((c) => ({ kind: c.kind, codec: c.rtpParameters.codecs[0]! })),
      output: file,
      format: this.container.format,
      log: this.opts.log,
      signal: this.abort.signal,
    });
    const encoder = this.encoder;
    encoder.once('exit', (exit) => void this.encoderExited(exit));
    this.check();
    await Promise.all(this.transports.map((t, i) => this.timed(t.connect({ ip: '127.0.0.1', port: encoder.ports[i]!, rtcpPort: encoder.ports[i]! + 1 }), 'connect')));
    this.check();
    await Promise.all(this.consumers.map((c) => this.timed(c.resume(), 'resume')));
    this.check();
    // Resuming asks for one already; asked again so a file starts with a picture even if that one was rate-limited away.
    for (const c of this.consumers) if (c.kind === 'video') c.requestKeyFrame().catch(() => undefined);
    this.startedAtMs = Date.now();
    this.state = 'recording';
    this.opts.log.info({ segment: this.index, peer: this.peerId, file: this.file, pid: encoder.pid }, 'recording segment started');
  }

  /** After every await of the start: still wanted, and nothing died underneath. */
  private check(): void {
    if (this.closeReason || this.encoder?.exit) throw new Abandoned();
    if (this.transports.some((t) => t.closed) || this.consumers.some((c) => c.closed)) throw new MediaGone();
  }

  private consumerGone(transportClosed: boolean): void {
    if (this.state === 'recording' && this.consumers.every((c) => c.closed)) this.emit('mediagone', transportClosed);
  }

  private async shutdown(reason: CloseReason): Promise<void> {
    this.state = 'stopping';
    this.endedAtMs = Date.now();
    const exit = await this.encoder!.stop();
    await this.teardown(false);
    await this.measure();
    if (isDiskFull(exit)) {
      this.error = firstLine(exit.stderr);
      return this.finish('failed', 'disk-full');
    }
    if (exit.forced) this.error = 'the encoder did not stop in time and was killed: the file has no index or duration';
    else if (!this.bytes) {
      // Ended before its first key frame (a broadcaster leaving at once): an empty file is of no use to anyone.
      this.error = `no media was written (a video track starts at a key frame): ${firstLine(exit.stderr) || 'the encoder wrote nothing'}`;
      await fs.rm(path.join(this.opts.folder, this.file), { force: true });
    }
    this.finish('ended', reason);
  }

  /** The encoder ended without being asked: the segment failed; the room's media is untouched. */
  private async encoderExited(exit: EncoderExit): Promise<void> {
    if (exit.requested || this.state !== 'recording') return;
    this.endedAtMs = Date.now();
    this.state = 'stopping';
    await this.teardown(false);
    await this.measure();
    const why = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    this.error = `the encoder ${why}${exit.stderr ? `: ${firstLine(exit.stderr)}` : ''}`;
    this.opts.log.warn({ segment: this.index, peer: this.peerId, pid: this.encoder?.pid, err: this.error }, 'recording segment failed');
    this.finish('failed', isDiskFull(exit) ? 'disk-full' : 'encoder-died');
  }

  private async teardown(killEncoder: boolean): Promise<void> {
    for (const t of this.transports) t.close();
    if (killEncoder) await this.encoder?.kill();
  }

  private async measure(): Promise<void> {
    this.bytes = await fs.stat(path.join(this.opts.folder, this.file)).then(
      (s) => (s.isFile() ? s.size : null),
      () => null,
    );
  }

  private finish(state: 'ended' | 'failed' | 'abandoned', reason: SegmentEndReason): void {
    this.state = state;
    this.endReason = reason;
    this.endedAtMs ??= Date.now();
    this.opts.log.info({ segment: this.index, peer: this.peerId, state, reason, bytes: this.bytes }, 'recording segment ended');
    this.markFinished();
    this.emit('end');
  }

  private timed<T>(promise: Promise<T>, what: string, onLate?: (value: T) => void): Promise<T> {
    return withTimeout(promise, MEDIA_REQUEST_TIMEOUT_MS, what, onLate);
  }
}

/** Which producers a segment records: a new set means a new segment. */
export function segmentKey(tracks: readonly SegmentTrack[]): string {
  return tracks
    .map((t) => t.producer.id)
    .sort()
    .join(',');
}

function codecOf(producer: ms.Producer): ms.RtpCodecParameters {
  return producer.rtpParameters.codecs[0]!;
}

function isDiskFull(exit: EncoderExit): boolean {
  return /no space left on device|disk quota exceeded/i.test(exit.stderr);
}

/**
 * What the recorder receives: the producer's codec as the router offers it,
 * with no RTX, no feedback and no header extensions; ffmpeg sends no NACKs or
 * PLIs, and key frames are asked for by the segment itself.
 */
function recorderCapabilities(router: ms.Router, producer: ms.Producer): ms.RtpCapabilities {
  const mime = codecOf(producer).mimeType.toLowerCase();
  return {
    codecs: (router.rtpCapabilities.codecs ?? []).filter((c) => c.mimeType.toLowerCase() === mime).map((c) => ({ ...c, rtcpFeedback: [] })),
    headerExtensions: [],
  };
}
