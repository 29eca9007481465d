import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import { ProtocolError } from '../protocol/messages.js';
import type { RoomManager } from '../rooms/roomManager.js';
import type { RecordingInfo } from './manifest.js';
import { encoderLauncher, runs } from './encoder.js';
import { RoomRecording } from './roomRecording.js';
import type { FailureReason } from './segment.js';

export interface RecordingsOptions {
  rooms: Pick<RoomManager, 'get'>;
  /** RECORDING_DIR, absolute. */
  dir: string;
  /** RECORDING_FFMPEG: a command on PATH or a path. */
  ffmpeg: string;
  log: Logger;
  /** A segment failed (metrics). */
  onFailure?: (reason: FailureReason) => void;
  /** Wait after a stage change before new segments start; default 1000 ms. */
  settleMs?: number;
  /** Test hook: each segment's output path, just before its encoder opens it. */
  onFile?: (file: string) => void;
}

/** Finished recordings kept for `GET /admin/recordings` (their manifests stay on disk regardless). */
const KEEP_FINISHED = 20;

/**
 * The recordings of this node, at most one per room. `start` reserves the
 * room before its first await, so of two concurrent starts one wins and the
 * other is refused; a `stop` during a start ends it and the start is refused.
 * A recording stops by itself when its room closes; `close` stops them all
 * (the node shuts down) with every file closed cleanly.
 */
export class Recordings {
  private readonly active = new Map<string, RoomRecording>();
  private readonly finished: RoomRecording[] = [];
  /** ffmpeg answered once; a missing one is looked for again at the next start (it may have been installed since). */
  private ready: Promise<readonly string[]> | undefined;
  private closing = false;

  constructor(private readonly opts: RecordingsOptions) {}

  async start(roomId: string): Promise<RecordingInfo> {
    const room = this.opts.rooms.get(roomId);
    if (!room || room.closed) throw new ProtocolError('not-found', `room "${roomId}" is not open on this node; a room opens when its first participant joins`);
    if (this.closing) throw new ProtocolError('unavailable', 'this node is shutting down');
    const current = this.active.get(roomId);
    if (current) {
      throw new ProtocolError('invalid-state', `room "${roomId}" is already being recorded (recording ${current.id}, since ${current.describe().startedAt}); stop it first`);
    }
    const id = randomUUID();
    const log = this.opts.log.child({ room: roomId, recording: id });
    const recording = new RoomRecording({ id, room, dir: this.opts.dir, ffmpeg: this.opts.ffmpeg, log, settleMs: this.opts.settleMs ?? 1000, onFailure: this.opts.onFailure, onFile: this.opts.onFile });
    // Reserved before the first await: a concurrent start sees it and is refused.
    this.active.set(roomId, recording);
    recording.once('stopped', () => this.retire(roomId, recording));
    try {
      await recording.start(await this.checkTools());
      // A stop that came while the first segments were starting won: this start did not get a recording going.
      if (!recording.recording) throw new ProtocolError('invalid-state', `the recording of room "${roomId}" was stopped while it was starting`);
      return recording.describe();
    } catch (err) {
      // Nothing recorded yet: the reservation goes; a recording stopped meanwhile has already finished its stop.
      if (this.active.get(roomId) === recording) this.active.delete(roomId);
      await recording.stop('stopped');
      throw err;
    }
  }

  /** Stops the room's recording; resolves once every file is closed. */
  async stop(roomId: string): Promise<RecordingInfo> {
    const recording = this.active.get(roomId);
    if (!recording) throw new ProtocolError('not-found', `room "${roomId}" is not being recorded on this node`);
    await recording.stop('stopped');
    return recording.describe();
  }

  /** The room's recording in progress, else its latest finished one. */
  get(roomId: string): RecordingInfo | undefined {
    const r = this.active.get(roomId) ?? this.finished.find((f) => f.room.id === roomId);
    return r?.describe();
  }

  /** Recordings in progress, then the latest finished ones (newest first). */
  list(): RecordingInfo[] {
    return [...this.active.values(), ...this.finished].map((r) => r.describe());
  }

  /** For metrics: recordings in progress and the segments they are writing. */
  get counts(): { recordings: number; segments: number } {
    let segments = 0;
    for (const r of this.active.values()) segments += r.recordingSegments;
    return { recordings: this.active.size, segments };
  }

  /** The node shuts down: every recording stops, its files closed cleanly. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.active.values()].map((r) => r.stop('shutdown')));
  }

  private retire(roomId: string, recording: RoomRecording): void {
    if (this.active.get(roomId) === recording) this.active.delete(roomId);
    // A start refused before it had a folder recorded nothing: it is not listed.
    if (!recording.hasFolder) return;
    this.finished.unshift(recording);
    this.finished.splice(KEEP_FINISHED);
  }

  /** Checks that ffmpeg runs (503 naming it when not) and finds the encoders' launcher. */
  private checkTools(): Promise<readonly string[]> {
    this.ready ??= (async () => {
      const ffmpeg = await runs(this.opts.ffmpeg, ['-hide_banner', '-version']);
      if (ffmpeg !== true) {
        throw new ProtocolError(
          'unavailable',
          `recording needs ffmpeg, and "${this.opts.ffmpeg}" (RECORDING_FFMPEG) cannot be run: ${ffmpeg}. Install it (apt-get install ffmpeg) or set RECORDING_FFMPEG to its path.`,
        );
      }
      const launcher = await encoderLauncher();
      if (!launcher.length) this.opts.log.warn('setpriv --pdeathsig (util-linux) is not available: encoders would outlive this process if it were killed');
      return launcher;
    })();
    this.ready.catch(() => (this.ready = undefined));
    return this.ready;
  }
}
