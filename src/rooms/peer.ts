import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import { TokenBucket } from '../util/tokenBucket.js';
import type { RoomRouter } from '../media/roomMedia.js';
import { notification, type MediaSource, type NotificationName, type Notifications, type Role } from '../protocol/messages.js';

/** How a room reaches one participant; the signaling layer implements it. */
export interface PeerLink {
  /** Sends one serialised server message; a no-op once the connection is gone. */
  send(message: string): void;
  /** Closes the connection with a WebSocket close code and reason. */
  close(code: number, reason: string): void;
}

export interface PeerTransport {
  transport: ms.WebRtcTransport;
  rr: RoomRouter;
  direction: 'send' | 'recv';
}

/**
 * One participant of a room and the media objects it owns. Closing the peer
 * closes its transports, which closes its producers and consumers: ownership
 * is a tree, as in mediasoup.
 */
export class Peer {
  rtpCapabilities: ms.RtpCapabilities | undefined;
  readonly transports = new Map<string, PeerTransport>();
  readonly producers = new Map<string, { producer: ms.Producer; source: MediaSource }>();
  readonly consumers = new Map<string, ms.Consumer>();
  /** The router this peer receives from (placed on first recv transport). */
  recvRouter: RoomRouter | undefined;
  /** Holds one of the room's publisher slots. */
  onStage = false;
  /** A transport of this peer died with its worker; a media reset is due. */
  mediaLost = false;
  /** A moderator muted this peer: its audio stays paused (resume refused, new audio produced paused). */
  audioLocked = false;
  readonly joinedAt = Date.now();
  private closedFlag = false;

  /** Chat messages this peer may still send now (moderators are not limited). */
  readonly chatBucket: TokenBucket;

  constructor(
    readonly id: string,
    public name: string,
    readonly role: Role,
    readonly link: PeerLink,
    readonly log: Logger,
    /** Identities a ban applies to (token id, client address). */
    readonly banKeys: string[],
    chatRate: { perSecond: number; burst: number },
    /** The access token's id (jti): a token holds one connection per room. */
    readonly tokenId?: string,
  ) {
    this.chatBucket = new TokenBucket(chatRate.perSecond, chatRate.burst);
  }

  /** Broadcasters host their stage: they may delete messages, kick and ban viewers. */
  get isModerator(): boolean {
    return this.role === 'admin' || this.role === 'publisher';
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get canPublish(): boolean {
    return this.role === 'publisher' || this.role === 'admin';
  }

  notify<N extends NotificationName>(method: N, data: Notifications[N]): void {
    if (!this.closedFlag) this.link.send(notification(method, data));
  }

  /** Forgets media state whose objects mediasoup already closed (worker death). */
  forgetMediaOn(rr: RoomRouter): void {
    for (const [id, t] of this.transports) if (t.rr === rr) this.transports.delete(id);
    for (const [id, p] of this.producers) if (p.producer.closed) this.producers.delete(id);
    for (const [id, c] of this.consumers) if (c.closed) this.consumers.delete(id);
    if (this.recvRouter === rr) this.recvRouter = undefined;
  }

  closeMedia(): void {
    for (const { transport } of this.transports.values()) transport.close();
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closeMedia();
  }
}
