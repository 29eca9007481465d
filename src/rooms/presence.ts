import type { ParticipantInfo } from '../protocol/messages.js';

/** One node's part of a room (cluster mode): its viewers and peers, and its participants while the room is small. */
export interface NodePresence {
  viewers: number;
  peers: number;
  /** Undefined when this node alone holds more than the room's list size. */
  participants: ParticipantInfo[] | undefined;
}

/**
 * Throttles a room's presence pushes (viewer count, participant list): the first
 * change goes out at once, later ones at most once per interval, coalesced, so a
 * thousand viewers arriving in a second cost a handful of broadcasts.
 */
export class Presence {
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(
    private readonly intervalMs: number,
    /** Sends what changed (the room compares with what it sent last). */
    private readonly flush: () => void,
  ) {}

  changed(): void {
    if (this.timer) {
      this.dirty = true;
      return;
    }
    this.flush();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.dirty) {
        this.dirty = false;
        this.changed();
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dirty = false;
  }
}
