import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';
import { ProtocolError } from '../protocol/messages.js';
import type { Peer } from '../rooms/peer.js';
import type { Room } from '../rooms/room.js';
import { MANIFEST_FILE, ManifestWriter, type RecordingInfo, type RecordingState, type StopReason } from './manifest.js';
import { Segment, segmentKey, type CloseReason, type FailureReason, type SegmentTrack } from './segment.js';

export interface RoomRecordingOptions {
  id: string;
  room: Room;
  /** RECORDING_DIR: the recording gets a folder of its own inside it. */
  dir: string;
  ffmpeg: string;
  log: Logger;
  /** Wait after a stage change before segments start: a page going live adds its microphone and camera one after the other. */
  settleMs: number;
  /** A segment failed (metrics). */
  onFailure?: ((reason: FailureReason) => void) | undefined;
  /** Test hook: each segment's output path, just before its encoder opens it. */
  onFile?: ((file: string) => void) | undefined;
}

interface RoomRecordingEvents {
  /** Every file is closed and the manifest written. */
  stopped: [];
}

interface Wanted {
  peer: Peer;
  tracks: SegmentTrack[];
  key: string;
}

/** An encoder that died is replaced by a new segment, unless that one was itself a replacement and died within this many ms. */
const HEALTHY_RUN_MS = 10_000;

/**
 * The recording of one room: it follows the stage and keeps one segment per
 * broadcaster on it. A broadcaster leaving ends its segment at once; one
 * joining (or rejoining) gets a new segment once the stage has settled; one
 * whose tracks change (a camera added or closed, a camera resumed that was
 * off when its segment began) gets a new segment, and the old one ends once
 * the new one records. Segment changes run one reconcile at a time; segments
 * are registered before their first await, so `stop` reaches all of them.
 */
export class RoomRecording extends EventEmitter<RoomRecordingEvents> {
  readonly id: string;
  readonly room: Room;
  private folder: string;
  private state: RecordingState = 'starting';
  private readonly segments: Segment[] = [];
  private nextIndex = 1;
  /** Peers whose encoder keeps failing (or whose disk is full), with the tracks that failed: not restarted until those change. */
  private readonly blocked = new Map<string, string>();
  /** Peers whose next segment replaces a failed one (its index). */
  private readonly replacing = new Map<string, number>();
  private settleTimer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopping: Promise<void> | undefined;
  private stopReason: StopReason | null = null;
  private readonly startedAtMs = Date.now();
  private stoppedAtMs: number | null = null;
  private manifest: ManifestWriter;
  /** The folder exists (a recording stopped before it got one leaves nothing behind). */
  private created = false;
  private launcher: readonly string[] = [];
  private readonly log: Logger;
  private readonly onStageChange = () => this.stageChanged();
  private readonly onRoomClose = () => void this.stop('room-closed');

  constructor(private readonly opts: RoomRecordingOptions) {
    super();
    this.id = opts.id;
    this.room = opts.room;
    this.log = opts.log;
    this.folder = path.join(opts.dir, `${opts.room.id}-${new Date(this.startedAtMs).toISOString().replace(/:/g, '-')}`);
    this.manifest = this.writerFor(this.folder);
  }

  /** Started and not stopping. */
  get recording(): boolean {
    return this.state === 'recording';
  }

  /** It got a folder (and a manifest in it). */
  get hasFolder(): boolean {
    return this.created;
  }

  /** Segments writing a file now. */
  get recordingSegments(): number {
    return this.segments.filter((s) => s.recording).length;
  }

  /**
   * Creates the folder, writes the first manifest and starts a segment for each
   * broadcaster on stage. `launcher` prefixes each encoder's command line.
   */
  async start(launcher: readonly string[] = []): Promise<void> {
    this.assertStarting();
    this.launcher = launcher;
    await fs.mkdir(this.opts.dir, { recursive: true }).catch((err: Error) => {
      throw new ProtocolError('unavailable', `cannot create the recording folder ${this.opts.dir}: ${err.message}; set RECORDING_DIR to a folder this service may write`);
    });
    // Two recordings of one room in the same millisecond: the second folder gets a suffix.
    for (let n = 2; ; n++) {
      try {
        await fs.mkdir(this.folder);
        this.created = true;
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n > 9) {
          throw new ProtocolError('unavailable', `cannot create the recording folder ${this.folder}: ${(err as Error).message}`);
        }
        this.folder = path.join(this.opts.dir, `${path.basename(this.folder).replace(/~\d+$/, '')}~${n}`);
        this.manifest = this.writerFor(this.folder);
      }
    }
    this.assertStarting();
    await this.saveManifest();
    this.assertStarting();
    this.room.on('stagechange', this.onStageChange);
    this.room.once('close', this.onRoomClose);
    this.state = 'recording';
    this.room.setRecording(true);
    this.log.info({ folder: this.folder }, 'recording started');
    await this.enqueue(() => this.reconcile());
  }

  /** Ends every segment (their files closed cleanly), writes the manifest; idempotent. */
  stop(reason: StopReason): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  describe(): RecordingInfo {
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      id: this.id,
      room: this.room.id,
      state: this.state,
      folder: this.folder,
      startedAt: iso(this.startedAtMs)!,
      startedAtMs: this.startedAtMs,
      stoppedAt: iso(this.stoppedAtMs),
      stoppedAtMs: this.stoppedAtMs,
      stopReason: this.stopReason,
      segments: this.segments.filter((s) => s.listed).map((s) => s.describe()),
      manifestError: this.manifest.error,
    };
  }

  private async shutdown(reason: StopReason): Promise<void> {
    this.state = 'stopping';
    this.stopReason = reason;
    this.stoppedAtMs = Date.now();
    clearTimeout(this.settleTimer);
    this.room.off('stagechange', this.onStageChange);
    this.room.off('close', this.onRoomClose);
    this.room.setRecording(false);
    await Promise.all(this.segments.map((s) => s.close(reason)));
    // A reconcile under way saw the state and started nothing; its starts have been abandoned.
    await this.queue;
    this.state = 'stopped';
    await this.saveManifest();
    this.log.info({ reason, segments: this.segments.filter((s) => s.listed).length, folder: this.folder }, 'recording stopped');
    this.emit('stopped');
  }

  private assertStarting(): void {
    if (this.state !== 'starting') throw new ProtocolError('invalid-state', `the recording of room "${this.room.id}" was stopped while it was starting`);
    if (this.room.closed) throw new ProtocolError('not-found', `room "${this.room.id}" closed while its recording was starting`);
  }

  private stageChanged(): void {
    if (this.state !== 'recording') return;
    // Departures end at once; arrivals and changed tracks wait for the stage to settle.
    const wanted = this.wanted();
    for (const seg of this.activeSegments()) if (!wanted.has(seg.peerId)) void seg.close(this.goneReason(seg.peerId));
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => void this.enqueue(() => this.reconcile()), this.opts.settleMs);
    this.settleTimer.unref();
  }

  /** Starts the segments the stage needs and ends those it no longer does. */
  private async reconcile(): Promise<void> {
    if (this.state !== 'recording') return;
    const wanted = this.wanted();
    for (const seg of this.activeSegments()) if (!wanted.has(seg.peerId)) void seg.close(this.goneReason(seg.peerId));
    for (const [peerId, key] of this.blocked) if (wanted.get(peerId)?.key !== key) this.blocked.delete(peerId);
    const starts: Promise<void>[] = [];
    for (const w of wanted.values()) {
      const current = this.activeSegments().filter((s) => s.peerId === w.peer.id);
      if (current.some((s) => s.key === w.key) || this.blocked.get(w.peer.id) === w.key) continue;
      // The old segment records until the new one does: no gap when a camera is added.
      starts.push(
        this.startSegment(w).then((seg) => {
          if (seg.recording) for (const old of current) void old.close('tracks-changed');
        }),
      );
    }
    await Promise.all(starts);
  }

  /**
   * What each broadcaster on stage should be recorded with: its microphone,
   * and its camera unless the camera is paused at the segment's start (ffmpeg
   * needs a first key frame to write a video track); a camera paused later
   * stays in its segment.
   */
  private wanted(): Map<string, Wanted> {
    const out = new Map<string, Wanted>();
    for (const peer of this.room.stage.peers) {
      if (peer.closed) continue;
      const inSegment = new Set(this.activeSegments().filter((s) => s.peerId === peer.id).flatMap((s) => s.key.split(',')));
      const tracks = [...peer.producers.values()]
        .filter(({ producer: p }) => !p.closed && (p.kind === 'audio' || !p.paused || inSegment.has(p.id)))
        .sort((a, b) => a.producer.kind.localeCompare(b.producer.kind));
      if (tracks.length) out.set(peer.id, { peer, tracks, key: segmentKey(tracks) });
    }
    return out;
  }

  private activeSegments(): Segment[] {
    return this.segments.filter((s) => s.active);
  }

  /** A segment no longer wanted: its broadcaster still publishes something (tracks changed), or nothing any more (left). */
  private goneReason(peerId: string): CloseReason {
    const peer = this.room.stage.peers.find((p) => p.id === peerId);
    const publishing = peer !== undefined && [...peer.producers.values()].some(({ producer }) => !producer.closed);
    return publishing ? 'tracks-changed' : 'left-stage';
  }

  private startSegment(w: Wanted): Promise<Segment> {
    const index = this.nextIndex++;
    const replaces = this.replacing.get(w.peer.id);
    this.replacing.delete(w.peer.id);
    const seg = new Segment({
      index,
      peer: { id: w.peer.id, name: w.peer.name },
      tracks: w.tracks,
      router: async () => (await this.room.media.origin()).router,
      folder: this.folder,
      baseName: `${String(index).padStart(3, '0')}-${fileSafe(w.peer.name)}`,
      ffmpeg: this.opts.ffmpeg,
      launcher: this.launcher,
      log: this.log,
      replaces,
      onFile: this.opts.onFile,
    });
    // Registered before its first await: a stop reaches it whatever it is doing.
    this.segments.push(seg);
    seg.on('mediagone', (transportClosed) => {
      void seg.close(transportClosed ? 'media-lost' : this.goneReason(seg.peerId));
      this.stageChanged();
    });
    seg.once('end', () => this.segmentEnded(seg));
    return seg.start().then(() => {
      if (seg.recording) void this.saveManifest();
      return seg;
    });
  }

  private segmentEnded(seg: Segment): void {
    // A start that was overtaken recorded nothing: it is not kept.
    if (!seg.listed) this.segments.splice(this.segments.indexOf(seg), 1);
    void this.saveManifest();
    const failure = seg.failure;
    if (!failure) return;
    this.opts.onFailure?.(failure);
    if (this.state !== 'recording') return;
    const flapping = seg.replaces !== undefined && seg.ranMs < HEALTHY_RUN_MS;
    if (failure === 'encoder-died' && !flapping) {
      this.log.warn({ segment: seg.index, peer: seg.peerId }, 'recording encoder died: a new segment replaces it');
      this.replacing.set(seg.peerId, seg.index);
      void this.enqueue(() => this.reconcile());
      return;
    }
    this.log.error({ segment: seg.index, peer: seg.peerId, failure }, 'recording of this broadcaster suspended until its tracks change or it rejoins the stage');
    this.blocked.set(seg.peerId, seg.key);
  }

  private saveManifest(): Promise<void> {
    return this.created ? this.manifest.write(this.describe()) : Promise.resolve();
  }

  private writerFor(folder: string): ManifestWriter {
    return new ManifestWriter(path.join(folder, MANIFEST_FILE), (message) => this.log.error({ err: message }, 'recording manifest not written'));
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn).catch((err: unknown) => this.log.error({ err }, 'recording reconcile failed'));
    this.queue = run;
    return run;
  }
}

/** A display name as part of a file name: letters, digits, `_` and `-` only. */
function fileSafe(name: string): string {
  return name.normalize('NFKD').replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 32) || 'broadcaster';
}
