import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import type { AccessGrant } from '../auth/access.js';
import type { RoomManager } from '../rooms/roomManager.js';
import { ProtocolError } from '../protocol/messages.js';
import type { MediaSession, SessionEndReason, SessionProtocol, SessionTimers } from './mediaSession.js';
import { WhipSession } from './whipSession.js';
import { WhepSession } from './whepSession.js';

export interface MediaSessionsOptions {
  rooms: RoomManager;
  /** The routers' capabilities (every router shares them). */
  rtpCapabilities: ms.RtpCapabilities;
  log: Logger;
  timers: SessionTimers;
  /** Sessions one client address may hold at once, WHIP and WHEP together. */
  maxPerAddress: number;
  onOpen?: (protocol: SessionProtocol) => void;
  onClose?: (protocol: SessionProtocol, reason: SessionEndReason) => void;
}

export interface SessionSummary {
  id: string;
  protocol: SessionProtocol;
  room: string | undefined;
  peerId: string | undefined;
  createdAt: number;
  iceState: string | undefined;
  dtlsState: string | undefined;
}

/**
 * The node's WHIP and WHEP sessions, by id (the last part of their resource
 * URL). A session counts against its address from before its first await, so
 * pipelined POSTs cannot exceed the per-address cap.
 */
export class MediaSessions {
  private readonly sessions = new Map<string, MediaSession>();
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly opts: MediaSessionsOptions) {}

  get size(): number {
    return this.sessions.size;
  }

  count(protocol: SessionProtocol): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.protocol === protocol) n++;
    return n;
  }

  /** Whether `room` is open here with someone on stage (or about to be): a WHEP player can watch it on this node. */
  hasStage(room: string): boolean {
    const r = this.opts.rooms.get(room);
    return r !== undefined && !r.closed && r.hasHost;
  }

  get(id: string): MediaSession | undefined {
    return this.sessions.get(id);
  }

  list(): SessionSummary[] {
    return [...this.sessions.values()].map((s) => ({
      id: s.id,
      protocol: s.protocol,
      room: s.room?.id,
      peerId: s.peer?.id,
      createdAt: s.createdAt,
      iceState: s.transport?.iceState,
      dtlsState: s.transport?.dtlsState,
    }));
  }

  /** Starts a session from `sdp`; resolves with it and the SDP answer. Errors are ProtocolError, NegotiationError or AccessRefused-like. */
  async open(protocol: SessionProtocol, grant: AccessGrant, token: string | undefined, sdp: string, address: string): Promise<{ session: MediaSession; answer: string }> {
    const held = this.perAddress.get(address) ?? 0;
    if (held >= this.opts.maxPerAddress) {
      throw new ProtocolError('rate-limited', `your address already holds ${this.opts.maxPerAddress} WHIP/WHEP sessions; end one (DELETE its resource) first`);
    }
    const session = protocol === 'whip' ? new WhipSession(grant, token, this.opts.timers) : new WhepSession(grant, token, this.opts.timers);
    // Reserved now, before the first await; given back when the session ends, however it ends.
    this.perAddress.set(address, held + 1);
    this.sessions.set(session.id, session);
    let started = false;
    session.once('close', (reason) => {
      this.sessions.delete(session.id);
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n > 0) this.perAddress.set(address, n);
      else this.perAddress.delete(address);
      if (started) {
        this.opts.onClose?.(protocol, reason);
        this.opts.log.info({ session: session.id, protocol, room: session.room?.id, reason }, `${protocol.toUpperCase()} session ended`);
      }
    });
    try {
      const answer = await session.start(this.opts.rooms, sdp, this.opts.rtpCapabilities, address);
      if (session.closed) throw new ProtocolError('invalid-state', 'the session ended while it was being set up');
      started = true;
      this.opts.onOpen?.(protocol);
      this.opts.log.info({ session: session.id, protocol, room: session.room?.id, peer: session.peer?.id }, `${protocol.toUpperCase()} session started`);
      return { session, answer };
    } catch (err) {
      session.close('failed');
      throw err;
    }
  }

  /** The node shuts down. */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) s.close('shutdown');
  }
}
