import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import type { PeerMedia, PeerProducer, PeerTransport } from '../media/peerMedia.js';
import type { RoomRouter } from '../media/roomMedia.js';
import { ProtocolError, notification, type NotificationName, type Notifications, type Role } from '../protocol/messages.js';

/** How a room reaches one participant; the signaling layer implements it. */
export interface PeerLink {
  /** Sends one serialised server message; a no-op once the connection is gone. */
  send(message: string): void;
  /** Closes the connection with a WebSocket close code and reason. */
  close(code: number, reason: string): void;
}

/** What a peer and its room use of a media unit (media/peerMedia.ts; unit tests pass a fake). */
export type PeerMediaUnit = Pick<
  PeerMedia,
  | 'closed'
  | 'transports'
  | 'producers'
  | 'consumers'
  | 'recvRouter'
  | 'createTransport'
  | 'transport'
  | 'connect'
  | 'restartIce'
  | 'produce'
  | 'producing'
  | 'producer'
  | 'closeProducer'
  | 'closeProducers'
  | 'consume'
  | 'consumer'
  | 'request'
  | 'affectedBy'
  | 'reset'
  | 'close'
  | 'on'
>;

const NONE: ReadonlyMap<string, never> = new Map<string, never>();

/**
 * One participant of a room. Its mediasoup objects belong to a media unit
 * (media/peerMedia.ts) the room attaches on join; closing the peer closes the
 * unit, which closes its transports, producers and consumers.
 */
export class Peer {
  rtpCapabilities: ms.RtpCapabilities | undefined;
  /** Holds one of the room's publisher slots. */
  onStage = false;
  /** Cluster mode: a broadcaster of another node, relayed here through a pipe (no socket). */
  relay = false;
  /** A moderator muted this peer: its audio stays paused (resume refused, new audio produced paused). */
  audioLocked = false;
  /**
   * A viewer who accepted an invitation to the stage (rooms/invitations.ts): it holds a slot
   * and may publish its microphone (and camera when `video`) until it goes back to the audience.
   * `published`: its first producer started (until then the reservation is kept by a timer).
   */
  guest: { video: boolean; published: boolean } | undefined;
  readonly joinedAt = Date.now();
  private closedFlag = false;
  private unit: PeerMediaUnit | undefined;

  constructor(
    readonly id: string,
    public name: string,
    readonly role: Role,
    readonly link: PeerLink,
    readonly log: Logger,
    /** Identities a ban applies to (token id, client address). */
    readonly banKeys: string[],
    /** The access token's id (jti): a token holds one connection per room. */
    readonly tokenId?: string,
  ) {}

  /** Broadcasters host their stage: they may delete messages, kick and ban viewers. */
  get isModerator(): boolean {
    return this.role === 'admin' || this.role === 'publisher';
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** A broadcaster or admin (the token says so): a host of the room, whose seat is never taken away. */
  get isHost(): boolean {
    return this.role === 'publisher' || this.role === 'admin';
  }

  /** Hosts, and a viewer while it is a guest on stage. */
  get canPublish(): boolean {
    return this.isHost || this.guest !== undefined;
  }

  notify<N extends NotificationName>(method: N, data: Notifications[N]): void {
    if (!this.closedFlag) this.link.send(notification(method, data));
  }

  /** The room gives the peer its media unit on join. */
  attachMedia(unit: PeerMediaUnit): void {
    if (this.closedFlag) unit.close();
    else this.unit = unit;
  }

  /** The peer's media unit; a peer that never joined (or left) has none to act on. */
  get media(): PeerMediaUnit {
    if (!this.unit || this.unit.closed) throw new ProtocolError('invalid-state', this.closedFlag ? 'you left the room' : 'join first');
    return this.unit;
  }

  /** Read-only views for admin, metrics and tools. */
  get transports(): ReadonlyMap<string, PeerTransport> {
    return this.unit?.transports ?? NONE;
  }

  get producers(): ReadonlyMap<string, PeerProducer> {
    return this.unit?.producers ?? NONE;
  }

  get consumers(): ReadonlyMap<string, ms.Consumer> {
    return this.unit?.consumers ?? NONE;
  }

  get recvRouter(): RoomRouter | undefined {
    return this.unit?.recvRouter;
  }

  /** Leaves: closes the media unit and everything beneath it. Idempotent. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.unit?.close();
  }
}
