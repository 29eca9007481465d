import { randomUUID } from 'node:crypto';
import type { PeerMedia } from '../media/peerMedia.js';
import type { RoomMedia } from '../media/roomMedia.js';
import { ProtocolError, type CallEndReason } from '../protocol/messages.js';
import type { Peer } from '../rooms/peer.js';

export type CallState = 'ringing' | 'active' | 'ended';

/** What a call is, for admin routes. */
export interface CallSnapshot {
  callId: string;
  room: string;
  state: CallState;
  video: boolean;
  startedAt: number;
  answeredAt: number | null;
  caller: { peerId: string; name: string };
  callee: { peerId: string; name: string };
  /** Worker of the call's router; null before either side asked for media. */
  worker: number | null;
}

/**
 * One private call between two participants of a room: a room of two with its own
 * mediasoup router (created when the first side asks for a transport), which nothing of the
 * stage can reach. Each side's transports, producers and consumers belong to its media unit
 * (media/peerMedia.ts) on that router; `end()` closes the router and everything beneath it.
 */
export class Call {
  readonly id = randomUUID();
  readonly startedAt = Date.now();
  answeredAt: number | null = null;
  state: CallState = 'ringing';
  ringTimer: NodeJS.Timeout | undefined;
  private media: RoomMedia | undefined;
  private readonly units = new Map<Peer, PeerMedia>();

  constructor(
    readonly roomId: string,
    readonly caller: Peer,
    readonly callee: Peer,
    readonly video: boolean,
    private readonly createMedia: () => RoomMedia,
    /** The call's router died with its worker. */
    private readonly onMediaLost: () => void,
  ) {}

  get parties(): [Peer, Peer] {
    return [this.caller, this.callee];
  }

  other(peer: Peer): Peer {
    return peer === this.caller ? this.callee : this.caller;
  }

  /** `peer`'s media unit in this call, created on first use; only the two parties have one. */
  unit(peer: Peer): PeerMedia {
    if (this.state !== 'active') throw new ProtocolError('invalid-state', this.state === 'ringing' ? 'the call has not been answered yet' : 'the call has ended');
    let unit = this.units.get(peer);
    if (unit && !unit.closed) return unit;
    if (!this.media) {
      this.media = this.createMedia();
      this.media.on('routerlost', () => this.onMediaLost());
    }
    unit = this.media.createPeerMedia(peer.id);
    this.units.set(peer, unit);
    return unit;
  }

  /** The unit of `peer` if it has one (the other side's producers are looked up here). */
  unitOf(peer: Peer): PeerMedia | undefined {
    return this.units.get(peer);
  }

  /** Closes the call's router, and with it every transport, producer and consumer of both sides. */
  end(): void {
    this.state = 'ended';
    clearTimeout(this.ringTimer);
    this.media?.close();
    this.units.clear();
  }

  describe(): CallSnapshot {
    const router = this.media?.all()[0];
    return {
      callId: this.id,
      room: this.roomId,
      state: this.state,
      video: this.video,
      startedAt: this.startedAt,
      answeredAt: this.answeredAt,
      caller: { peerId: this.caller.id, name: this.caller.name },
      callee: { peerId: this.callee.id, name: this.callee.name },
      worker: router && !router.closed ? router.workerIndex : null,
    };
  }
}

/** The words both sides see when a call ends. */
export function endMessage(reason: CallEndReason, by: Peer | undefined, call: Call): string {
  switch (reason) {
    case 'declined':
      return `${call.callee.name} declined the call`;
    case 'hung-up':
      return `${by?.name ?? 'The other side'} hung up`;
    case 'no-answer':
      return `${call.callee.name} did not answer`;
    case 'disconnected':
      return `${by?.name ?? 'The other side'} disconnected`;
    case 'ended-by-admin':
      return 'An administrator ended the call';
    case 'media-failed':
      return 'The call’s media server restarted; call again';
  }
}
