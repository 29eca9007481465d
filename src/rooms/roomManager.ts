import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { RoomMedia } from '../media/roomMedia.js';
import type { WorkerPool } from '../media/workerPool.js';
import type { PeerLimit } from '../media/peerMedia.js';
import type { ResponseData, Role } from '../protocol/messages.js';
import { Peer, type PeerLink } from './peer.js';
import { Room } from './room.js';
import type { ChatOptions, SharedChatLog } from '../chat/roomChat.js';
import { ProtocolError } from '../protocol/messages.js';
import { BanList } from '../moderation/banList.js';
import type { RemoteRemoval } from '../moderation/moderation.js';
import type { InvitationOptions } from './invitations.js';
import type { CallPolicy, CallsOptions } from '../calls/calls.js';

export interface RoomManagerOptions {
  pool: WorkerPool;
  log: Logger;
  publish: (topic: string, message: string) => void;
  maxViewersPerRouter: number;
  keyFrameRequestDelayMs: number;
  presenceIntervalMs: number;
  /** An empty room lingers this long (a broadcaster reloading keeps their room). */
  emptyRoomGraceMs: number;
  chat: ChatOptions;
  /** Cluster mode: each room's chat log shared through Redis (cluster/chatStream.ts). */
  sharedChat?: (roomId: string) => SharedChatLog;
  /** A chat message went out to this many of the node's participants (metrics). */
  onChatOut?: (recipients: number) => void;
  /** Cluster mode: a kick or ban of a peer not on this node goes to the other nodes. */
  forwardRemoval?: (removal: RemoteRemoval) => void;
  participantListMax: number;
  /** Node-wide bans (they outlive rooms); default: a list whose bans last an hour. */
  bans?: BanList;
  /** Rooms open at once, in total and created per client address (the address that joined first). */
  roomLimits?: { total: number; perAddress: number };
  /** A limit refused a room (metrics). */
  onRoomRefused?: (limit: 'total' | 'per-address') => void;
  /** Media objects one participant may hold at once (defaults: RoomMedia's). */
  peerLimits?: { transports: number; producers: number; consumers: number };
  /** A per-participant media cap refused a request (metrics). */
  onPeerLimitRefused?: (limit: PeerLimit) => void;
  /** Invitations to the stage; default: open 60 s, a guest has 30 s to publish. */
  invitations?: InvitationOptions;
  /** Private calls; default: anyone may call anyone, ringing for 30 s. */
  calls?: { policy: CallPolicy; ringMs: number; onOutcome?: CallsOptions['onOutcome'] };
}

interface RoomManagerEvents {
  /** A room opened on this node (cluster mode follows it). */
  room: [room: Room];
}

/** Creates rooms on first join and closes them when they stay empty past the grace period. */
export class RoomManager extends EventEmitter<RoomManagerEvents> {
  readonly rooms = new Map<string, Room>();
  private readonly emptyTimers = new Map<string, NodeJS.Timeout>();
  readonly bans: BanList;
  /** Open rooms per address that created them. */
  private readonly createdPerAddress = new Map<string, number>();

  constructor(private readonly opts: RoomManagerOptions) {
    super();
    this.bans = opts.bans ?? new BanList(3600_000);
  }

  get(id: string): Room | undefined {
    return this.rooms.get(id);
  }

  /**
   * The open room `id`, or a new one. `address` is the client that asks: one address may
   * hold at most `roomLimits.perAddress` rooms it created (refused `rate-limited`), and the
   * node `roomLimits.total` (a full node: `server-busy`).
   */
  getOrCreate(id: string, address?: string): Room {
    const existing = this.rooms.get(id);
    if (existing && !existing.closed) return existing;
    const limits = this.opts.roomLimits;
    if (limits && this.rooms.size >= limits.total) {
      this.opts.onRoomRefused?.('total');
      throw new ProtocolError('server-busy', 'this server has as many rooms open as it allows; join an existing room or try again later');
    }
    if (limits && address !== undefined && (this.createdPerAddress.get(address) ?? 0) >= limits.perAddress) {
      this.opts.onRoomRefused?.('per-address');
      throw new ProtocolError('rate-limited', `your address already opened ${limits.perAddress} rooms; join an existing room or wait until one closes`);
    }
    const log = this.opts.log.child({ room: id });
    const { peerLimits: pl, onPeerLimitRefused } = this.opts;
    const mediaOptions = {
      pool: this.opts.pool,
      log,
      maxViewersPerRouter: this.opts.maxViewersPerRouter,
      ...(pl ? { maxTransportsPerPeer: pl.transports, maxProducersPerPeer: pl.producers, maxConsumersPerPeer: pl.consumers } : {}),
      ...(onPeerLimitRefused ? { onLimitRefused: onPeerLimitRefused } : {}),
    };
    const media = new RoomMedia(mediaOptions);
    const calls = this.opts.calls ?? { policy: 'everyone', ringMs: 30_000 };
    const room = new Room({
      id,
      media,
      log,
      publish: this.opts.publish,
      keyFrameRequestDelayMs: this.opts.keyFrameRequestDelayMs,
      presenceIntervalMs: this.opts.presenceIntervalMs,
      chat: this.opts.chat,
      sharedChat: this.opts.sharedChat?.(id),
      onChatOut: this.opts.onChatOut,
      forwardRemoval: this.opts.forwardRemoval,
      participantListMax: this.opts.participantListMax,
      bans: this.bans.forRoom(id),
      invitations: this.opts.invitations ?? { ttlMs: 60_000, publishTimeoutMs: 30_000 },
      calls: {
        ...calls,
        // A call is a private room of two: one router, both sides receive from it (within the packet budget), no speaker observers.
        createMedia: () => new RoomMedia({ ...mediaOptions, log: log.child({ component: 'call' }), receiveOnOrigin: true, observers: false }),
      },
    });
    if (address !== undefined) this.createdPerAddress.set(address, (this.createdPerAddress.get(address) ?? 0) + 1);
    room.on('empty', () => this.scheduleClose(room));
    room.on('close', () => {
      clearTimeout(this.emptyTimers.get(id));
      this.emptyTimers.delete(id);
      if (this.rooms.get(id) === room) this.rooms.delete(id);
      if (address !== undefined) {
        const n = (this.createdPerAddress.get(address) ?? 1) - 1;
        if (n > 0) this.createdPerAddress.set(address, n);
        else this.createdPerAddress.delete(address);
      }
    });
    this.rooms.set(id, room);
    log.info('room created');
    this.emit('room', room);
    return room;
  }

  /** Creates the peer and joins it to the room (created if needed). */
  async join(args: {
    roomId: string;
    role: Role;
    name: string;
    link: PeerLink;
    banKeys: string[];
    chatSince?: number | undefined;
    chatEpoch?: string | undefined;
    tokenId?: string | undefined;
    takeOver?: boolean | undefined;
    /** The client's address: counts the rooms it creates. */
    address?: string | undefined;
    /** Cluster mode: a broadcaster of another node relayed here (cluster/cascade.ts), under its own id. */
    relayOf?: string | undefined;
  }): Promise<{ room: Room; peer: Peer; response: ResponseData['join'] }> {
    const room = args.relayOf === undefined ? this.getOrCreate(args.roomId, args.address) : this.openRoom(args.roomId);
    // A relay does not keep a room open: only people of this node cancel its closing.
    if (args.relayOf === undefined) {
      clearTimeout(this.emptyTimers.get(room.id));
      this.emptyTimers.delete(room.id);
    }
    const id = args.relayOf ?? randomUUID();
    const peer = new Peer(id, args.name, args.role, args.link, room.log.child({ peer: id, role: args.role }), args.banKeys, args.tokenId);
    peer.relay = args.relayOf !== undefined;
    try {
      const response = await room.join(peer, { chatSince: args.chatSince, chatEpoch: args.chatEpoch, takeOver: args.takeOver });
      return { room, peer, response };
    } catch (err) {
      if (room.isEmpty) this.scheduleClose(room);
      throw err;
    }
  }

  /** The open room `id`; relays join only rooms that people of this node opened. */
  private openRoom(id: string): Room {
    const room = this.rooms.get(id);
    if (!room || room.closed) throw new ProtocolError('invalid-state', `room ${id} is not open on this node`);
    return room;
  }

  /** Checked at upgrade, so a banned client is refused before it opens a socket. */
  isBanned(roomId: string, keys: string[]): boolean {
    return this.bans.isBanned(roomId, keys);
  }

  /** The node shuts down: clients are told `closing` code `shutdown`, which they retry (unlike an admin's room close). */
  closeAll(reason: string): void {
    for (const room of [...this.rooms.values()]) room.close(reason, 'shutdown');
  }

  private scheduleClose(room: Room): void {
    clearTimeout(this.emptyTimers.get(room.id));
    const t = setTimeout(() => {
      this.emptyTimers.delete(room.id);
      if (room.isEmpty) {
        room.log.info('room closed after staying empty');
        room.close('room empty');
      }
    }, this.opts.emptyRoomGraceMs);
    t.unref();
    this.emptyTimers.set(room.id, t);
  }
}
