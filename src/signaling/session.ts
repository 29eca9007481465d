import type { AccessGrant } from '../auth/access.js';
import type { Peer, PeerLink } from '../rooms/peer.js';
import type { Room } from '../rooms/room.js';
import { TokenBucket } from '../util/tokenBucket.js';
import { fitCloseReason } from './closeReason.js';
import type { WebSocket } from './uws.js';

/**
 * One WebSocket connection: who it is (its access grant and address), what it
 * may still spend (requests, chat lines: budgets that outlive a leave + join),
 * and the room membership it holds at most one of. The uWS socket keeps a
 * reference to it as its user data.
 */
export class Session implements PeerLink {
  peer: Peer | undefined;
  room: Room | undefined;
  /** A join is running: a second one is refused until it ends. */
  joining = false;
  closed = false;
  /** Dropped for not reading fast enough (the close is on its way). */
  droppedSlow = false;
  /** The peer whose first frame was reported (once per peer). */
  firstFrameOf: string | undefined;
  readonly requests: TokenBucket;
  readonly chat: TokenBucket;
  /** Calls placed: 3 in a burst, then one per 10 s (each rings someone). */
  readonly calls = new TokenBucket(1 / 10, 3);
  /** Hands raised: one per 5 s (each notifies every host). */
  readonly hands = new TokenBucket(1 / 5, 1);
  private ws: WebSocket<{ session: Session }> | undefined;

  constructor(
    readonly grant: AccessGrant,
    /** The client's address under TRUST_PROXY. */
    readonly remote: string,
    budgets: { requests: { perSecond: number; burst: number }; chat: { perSecond: number; burst: number } },
  ) {
    this.requests = new TokenBucket(budgets.requests.perSecond, budgets.requests.burst);
    this.chat = new TokenBucket(budgets.chat.perSecond, budgets.chat.burst);
  }

  /** uWS opened the socket. */
  attach(ws: WebSocket<{ session: Session }>): void {
    this.ws = ws;
  }

  get banKeys(): string[] {
    return this.grant.banKeys;
  }

  send(message: string): void {
    const ws = this.ws;
    if (ws && !this.closed) ws.cork(() => ws.send(message));
  }

  /** Closes with a code and a reason cut to the WebSocket limit on a character boundary. */
  close(code: number, reason: string): void {
    if (this.ws && !this.closed) this.ws.end(code, fitCloseReason(reason));
  }

  get bufferedAmount(): number {
    return this.ws && !this.closed ? this.ws.getBufferedAmount() : 0;
  }

  /** Hard close, for a reader that will not take a close frame either. */
  terminate(): void {
    if (this.ws && !this.closed) this.ws.close();
  }

  /** Now a member of `room` as `peer`: room broadcasts reach this socket. */
  entered(room: Room, peer: Peer): void {
    this.room = room;
    this.peer = peer;
    this.ws?.subscribe(room.topic);
  }

  /** Leaves the room it is in, if any. */
  leave(): void {
    const { room, peer } = this;
    this.room = undefined;
    this.peer = undefined;
    if (!room || !peer) return;
    if (!this.closed) this.ws?.unsubscribe(room.topic);
    room.leave(peer);
    peer.log.info('peer left');
  }

  /** uWS closed the socket. */
  ended(): void {
    this.closed = true;
    this.leave();
  }
}
