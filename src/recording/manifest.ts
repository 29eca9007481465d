import fs from 'node:fs/promises';
import type { SegmentInfo } from './segment.js';

export type RecordingState = 'starting' | 'recording' | 'stopping' | 'stopped';
export type StopReason = 'stopped' | 'room-closed' | 'shutdown';

/** A recording as admin routes show it and as `manifest.json` stores it. */
export interface RecordingInfo {
  id: string;
  room: string;
  state: RecordingState;
  /** Absolute path of the recording's folder; segment files are relative to it. */
  folder: string;
  startedAt: string;
  startedAtMs: number;
  stoppedAt: string | null;
  stoppedAtMs: number | null;
  stopReason: StopReason | null;
  /** Every segment that recorded or failed, in the order they started. */
  segments: SegmentInfo[];
  /** The last manifest write failed (a full disk): the admin routes still tell the truth. */
  manifestError: string | null;
}

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_VERSION = 1;

/**
 * Writes one recording's manifest: the whole JSON again at every change,
 * atomically (a temporary file renamed over the old one), so a reader or a
 * crash never sees half a file. Writes do not overlap; a change made while
 * one is under way is written right after it, and only the newest counts.
 */
export class ManifestWriter {
  private next: string | undefined;
  private chain: Promise<void> | undefined;
  private lastError: string | null = null;

  constructor(
    readonly file: string,
    private readonly onError: (message: string) => void,
  ) {}

  /** The last write's failure, or null once one succeeds. */
  get error(): string | null {
    return this.lastError;
  }

  /** Resolves once `info` (or a newer one) is on disk, or failed to be. */
  write(info: RecordingInfo): Promise<void> {
    this.next = JSON.stringify({ version: MANIFEST_VERSION, ...info }, null, 2) + '\n';
    this.chain ??= this.drain();
    return this.chain;
  }

  private async drain(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    try {
      while (this.next !== undefined) {
        const text = this.next;
        this.next = undefined;
        try {
          await fs.writeFile(tmp, text);
          await fs.rename(tmp, this.file);
          this.lastError = null;
        } catch (err) {
          const message = `cannot write ${this.file}: ${(err as Error).message}`;
          if (message !== this.lastError) this.onError(message);
          this.lastError = message;
        }
      }
    } finally {
      this.chain = undefined;
    }
  }
}
