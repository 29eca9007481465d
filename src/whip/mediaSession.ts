import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { AccessGrant } from '../auth/access.js';
import type { Peer, PeerLink } from '../rooms/peer.js';
import type { Room } from '../rooms/room.js';
import { ProtocolError } from '../protocol/messages.js';
import { answerSetup, type Offer } from './negotiate.js';

export type SessionProtocol = 'whip' | 'whep';

/** Why a session ended: the client's DELETE, its connection, the room, or the server. */
export const sessionEndReasons = ['deleted', 'replaced', 'ice-timeout', 'disconnected', 'dtls-failed', 'removed', 'room-closed', 'shutdown', 'failed'] as const;
export type SessionEndReason = (typeof sessionEndReasons)[number];

export interface SessionTimers {
  /** A session whose ICE and DTLS do not connect within this long is closed (the client went away after its POST). */
  connectTimeoutMs: number;
  /** A connected session whose ICE stays disconnected this long is closed (mediasoup checks consent freshness). */
  disconnectTimeoutMs: number;
}

interface MediaSessionEvents {
  close: [reason: SessionEndReason];
}

/**
 * One WHIP or WHEP session: a participant of a room with no socket, whose one
 * WebRTC transport was negotiated over HTTP. Its HTTP resource (the `Location`
 * of the POST) lives until DELETE, or until its connection or room ends it.
 * Closing the session makes the participant leave, which closes its media.
 */
export abstract class MediaSession extends EventEmitter<MediaSessionEvents> {
  readonly id = randomUUID();
  readonly createdAt = Date.now();
  abstract readonly protocol: SessionProtocol;
  room: Room | undefined;
  peer: Peer | undefined;
  transport: ms.WebRtcTransport | undefined;
  /** The first answered media section (an ICE restart's answer names it). */
  firstSection: { kind: string; proto: string; mid: string | undefined } | undefined;
  private closedFlag = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Who the token (or an anonymous viewer's address) lets in, and where. */
    protected readonly grant: AccessGrant,
    /** The access token the session was created with, if any: DELETE and PATCH must carry the same one. */
    readonly token: string | undefined,
    private readonly timers: SessionTimers,
  ) {
    super();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** The participant's link: a kick, a ban, a take-over or the room closing ends the session. */
  readonly link: PeerLink = {
    send: () => undefined,
    // 4000: the room closed; 4009: a newer session (or tab) with the same token took over; else a kick or ban.
    close: (code) => this.close(code === 4000 ? 'room-closed' : code === 4009 ? 'replaced' : 'removed'),
  };

  /** `ETag` of the ICE session: a restart changes it (RFC 9725 §4.4). */
  get etag(): string | undefined {
    return this.transport ? `"${this.transport.iceParameters.usernameFragment}"` : undefined;
  }

  /** Fails a step that ran while the session, its participant or its transport closed. */
  protected assertLive(): void {
    if (this.closedFlag || this.peer?.closed || this.transport?.closed) {
      throw new ProtocolError('invalid-state', 'the session ended while it was being set up');
    }
  }

  /** Connects the transport with the offer's DTLS role and fingerprints, and watches it. */
  protected async connect(offer: Offer): Promise<void> {
    const peer = this.peer!;
    const transport = this.transport!;
    await peer.media.connect(transport.id, { role: answerSetup(offer).remoteRole, fingerprints: offer.fingerprints });
    this.assertLive();
    this.arm(this.timers.connectTimeoutMs, 'ice-timeout');
    // Its worker died, or the room reset its media: the client has to POST again.
    transport.observer.once('close', () => this.close('failed'));
    transport.on('dtlsstatechange', (state) => {
      if (state === 'connected') {
        this.disarm();
        this.onConnected();
      } else if (state === 'failed' || state === 'closed') this.close('dtls-failed');
    });
    transport.on('icestatechange', (state) => {
      if (state === 'disconnected') this.arm(this.timers.disconnectTimeoutMs, 'disconnected');
      else if ((state === 'connected' || state === 'completed') && transport.dtlsState === 'connected') this.disarm();
    });
  }

  /** ICE restart (a PATCH with new credentials): mediasoup's new ICE parameters. */
  async restartIce(): Promise<ms.IceParameters> {
    this.assertLive();
    const params = await this.peer!.media.restartIce(this.transport!.id);
    this.assertLive();
    return params;
  }

  private arm(ms: number, reason: SessionEndReason): void {
    this.disarm();
    this.timer = setTimeout(() => this.close(reason), ms);
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Ends the session: the participant leaves the room (its media closes with it). Idempotent. */
  close(reason: SessionEndReason): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.disarm();
    if (this.room && this.peer) this.room.leave(this.peer);
    this.onClose();
    this.emit('close', reason);
  }

  /** What a subclass stops following when the session ends. */
  protected onClose(): void {}

  /** DTLS is up: media flows from now on. */
  protected onConnected(): void {}
}
