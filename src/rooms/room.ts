import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { RoomMedia, RoomRouter } from '../media/roomMedia.js';
import { MAX_PUBLISHERS, ProtocolError, isReservedName, notification, type NotificationName, type Notifications, type ParticipantInfo, type RecordingNotice, type ResponseData } from '../protocol/messages.js';
import type { Peer, PeerMediaUnit } from './peer.js';
import { RoomChat, type ChatOptions, type SharedChatLog } from '../chat/roomChat.js';
import { Moderation, type RemoteRemoval } from '../moderation/moderation.js';
import type { RoomBans } from '../moderation/banList.js';
import { Presence, type NodePresence } from './presence.js';
import { Stage } from './stage.js';
import { Invitations, type InvitationOptions } from './invitations.js';
import { Calls, type CallsOptions } from '../calls/calls.js';
import { describePeer, type RoomSnapshot } from './snapshot.js';

/** What a room needs of its media (media/roomMedia.ts; unit tests pass a fake). */
export type RoomMediaPort = Pick<RoomMedia, 'rtpCapabilities' | 'closed' | 'close' | 'describeRouters' | 'on'> & {
  createPeerMedia(peerId: string): PeerMediaUnit;
};

export interface RoomOptions<M extends RoomMediaPort = RoomMedia> {
  id: string;
  media: M;
  log: Logger;
  /** Sends one serialised message to every peer of the room (uWS topic publish: serialised once). */
  publish: (topic: string, message: string) => void;
  /** mediasoup `keyFrameRequestDelay`: at most one key frame request per producer per this many ms. */
  keyFrameRequestDelayMs: number;
  /** Viewer count pushes are throttled to one per this many ms. */
  presenceIntervalMs: number;
  chat: ChatOptions;
  /** Cluster mode: the room's chat log shared through Redis (this node keeps a replica). */
  sharedChat?: SharedChatLog | undefined;
  /** A chat message went out to this many of the node's participants (metrics). */
  onChatOut?: ((recipients: number) => void) | undefined;
  /** Cluster mode: a kick or ban of a peer not on this node goes to the other nodes. */
  forwardRemoval?: ((removal: RemoteRemoval) => void) | undefined;
  /** Rooms up to this many peers also get the participant list. */
  participantListMax: number;
  /** The node's bans of this room (they outlive the room). */
  bans: RoomBans;
  /** Invitations to the stage: how long they stay open, how long a guest has to publish. */
  invitations: InvitationOptions;
  /** Private calls: who may call, how long a call rings, and the private media rooms they run in. */
  calls: Pick<CallsOptions, 'policy' | 'ringMs' | 'createMedia' | 'onOutcome'>;
}

interface RoomEvents {
  /** The last peer left. */
  empty: [];
  close: [];
  /** Who is on stage or what they publish changed (cluster mode tells the other nodes). */
  stagechange: [];
}

/** Notifications that mean the stage changed. */
const STAGE_CHANGES: ReadonlySet<NotificationName> = new Set(['publisherJoined', 'publisherLeft', 'newProducer', 'producerClosed', 'producerPaused', 'producerResumed']);

/**
 * A room: who is in it, who holds the four stage slots, and what everyone is
 * told. Media belongs to media/ (one unit per peer), chat policy to chat/,
 * kicks and bans to moderation/. Requests arrive validated by the protocol
 * module; errors are thrown as ProtocolError to the requesting peer only.
 */
export class Room<M extends RoomMediaPort = RoomMedia> extends EventEmitter<RoomEvents> {
  readonly id: string;
  readonly topic: string;
  readonly createdAt = Date.now();
  private readonly peerMap = new Map<string, Peer>();
  /** Peers that may broadcast (on stage or not): hosts, not audience. */
  readonly hosts = new Set<Peer>();
  readonly stage: Stage;
  readonly chat: RoomChat;
  readonly moderation: Moderation;
  readonly invitations: Invitations;
  readonly calls: Calls;
  private readonly presence: Presence;
  /** The other nodes' part of this room (cluster mode; none alone). */
  private remote: NodePresence = { viewers: 0, peers: 0, participants: [] };
  private lastCountSent = -1;
  private presenceVersion = 0;
  private lastPresenceSent = -1;
  /** An operator records the stage (recording/ sets it): told on join and pushed on change. */
  private recordingNotice: RecordingNotice = { active: false, since: null };
  private closedFlag = false;

  constructor(private readonly opts: RoomOptions<M>) {
    super();
    this.id = opts.id;
    this.topic = `room/${opts.id}`;
    const broadcast = this.broadcast.bind(this);
    const presenceChanged = () => this.presenceChanged();
    this.stage = new Stage({
      broadcast,
      hosts: this.hosts,
      presenceChanged,
      keyFrameRequestDelayMs: opts.keyFrameRequestDelayMs,
      leftStage: (p) => this.invitations.leftStage(p),
    });
    this.invitations = new Invitations({ peers: this.peerMap, hosts: this.hosts, stage: this.stage, log: opts.log, presenceChanged }, opts.invitations);
    this.calls = new Calls({
      ...opts.calls,
      roomId: opts.id,
      keyFrameRequestDelayMs: opts.keyFrameRequestDelayMs,
      peers: this.peerMap,
      log: opts.log,
      presenceChanged,
    });
    this.chat = new RoomChat(opts.chat, broadcast, opts.sharedChat, {
      onError: (err) => opts.log.warn({ err: err.message }, 'shared chat'),
      onMessageOut: () => opts.onChatOut?.(this.peerMap.size),
    });
    const forward = opts.forwardRemoval;
    this.moderation = new Moderation(
      { peers: this.peerMap, log: opts.log, leave: (p) => this.leave(p), pauseAudio: (p) => this.stage.pauseAudio(p) },
      opts.bans,
      forward && ((r) => forward({ ...r, room: this.id })),
    );
    this.presence = new Presence(opts.presenceIntervalMs, () => this.sendPresence());
    opts.media.on('routerlost', (rr, wasOrigin) => this.onRouterLost(rr, wasOrigin));
    opts.media.on('dominantspeaker', (producerId) => this.stage.dominantSpeaker(producerId));
    opts.media.on('volumes', (levels) => this.stage.audioLevels(levels));
  }

  /** The room's media (load tools reach the origin router through it). */
  get media(): M {
    return this.opts.media;
  }

  get peers(): ReadonlyMap<string, Peer> {
    return this.peerMap;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get log(): Logger {
    return this.opts.log;
  }

  /** A broadcaster is present (on stage or about to be): viewers may ask for media. */
  get hasHost(): boolean {
    return this.hosts.size > 0 || this.stage.size > 0;
  }

  /** This node's audience: everyone here who is neither on stage (guests included) nor a host waiting to go live. */
  get viewerCount(): number {
    let stageViewers = 0;
    for (const p of this.stage.peers) if (!this.hosts.has(p)) stageViewers++;
    return this.peerMap.size - this.hosts.size - stageViewers;
  }

  /** The whole audience: this node's and, in a cluster, the other nodes' (what participants are told). */
  get totalViewers(): number {
    return this.viewerCount + this.remote.viewers;
  }

  /** This node's part of the room's presence (cluster/presence.ts writes it for the other nodes). */
  localPresence(): NodePresence {
    // Relayed broadcasters are their own node's part, not this one's.
    const own = this.participants().filter((p) => !this.peerMap.get(p.peerId)?.relay);
    const small = own.length <= this.opts.participantListMax;
    return { viewers: this.viewerCount, peers: own.length, participants: small ? own : undefined };
  }

  /** The other nodes' parts, summed: counts and lists told to participants include them. */
  setRemotePresence(p: NodePresence): void {
    const same = p.viewers === this.remote.viewers && p.peers === this.remote.peers && JSON.stringify(p.participants) === JSON.stringify(this.remote.participants);
    this.remote = p;
    if (!same) this.presenceChanged();
  }

  broadcast<N extends NotificationName>(method: N, data: Notifications[N]): void {
    if (this.closedFlag) return;
    this.opts.publish(this.topic, notification(method, data));
    if (STAGE_CHANGES.has(method)) this.emit('stagechange');
  }

  // ---- membership ------------------------------------------------------------

  async join(peer: Peer, opts: { chatSince?: number | undefined; chatEpoch?: string | undefined; takeOver?: boolean | undefined } = {}): Promise<ResponseData['join']> {
    if (this.closedFlag) throw new ProtocolError('invalid-state', 'room is closing; join again');
    if (this.moderation.isBanned(peer.banKeys)) throw new ProtocolError('forbidden', 'you are banned from this room');
    this.claimToken(peer, opts.takeOver === true);
    const caps = await this.opts.media.rtpCapabilities;
    // In a cluster the chat may come from Redis. Answered before the checks below, and the
    // peer subscribed to the room with no await in between, so no chat event falls between.
    const chat = await this.chat.sync(opts.chatSince, opts.chatEpoch);
    // Re-checked after the awaits: two tabs joining at once must not both get in.
    this.claimToken(peer, opts.takeOver === true);
    if (this.closedFlag || this.opts.media.closed) throw new ProtocolError('invalid-state', 'room is closing; join again');
    if (peer.closed) throw new ProtocolError('invalid-state', 'you left the room');
    peer.attachMedia(this.opts.media.createPeerMedia(peer.id));
    peer.media.on('producerlost', (producerId) => this.stage.producerLost(peer, producerId));
    if (peer.role === 'viewer' && this.impersonates(peer.name)) peer.name = `Viewer ${Math.floor(Math.random() * 9000 + 1000)}`;
    this.peerMap.set(peer.id, peer);
    if (peer.isHost) this.hosts.add(peer);
    this.presenceChanged();
    return {
      peerId: peer.id,
      room: this.id,
      role: peer.role,
      name: peer.name,
      canPublish: peer.canPublish,
      routerRtpCapabilities: caps,
      publishers: this.stage.infos(),
      viewerCount: this.totalViewers,
      maxPublishers: MAX_PUBLISHERS,
      chat,
      moderator: peer.isModerator,
      // The joiner subscribes to the room's pushes after this answer: the list it would have missed comes here.
      participants: this.participantList() ?? null,
      hands: peer.isHost ? this.invitations.raisedHands() : [],
      invitations: peer.isHost ? this.invitations.list() : [],
      calls: this.calls.policy,
      recording: this.recordingNotice,
    };
  }

  /** Participants are told whether the stage is recorded: in their join answer, and by a `recording` push when it changes. */
  setRecording(active: boolean): void {
    if (active === this.recordingNotice.active) return;
    this.recordingNotice = { active, since: active ? Date.now() : null };
    this.broadcast('recording', this.recordingNotice);
  }

  /**
   * One connection per broadcaster token: a link opened in a second tab would
   * otherwise take a second of the four seats. Without `takeOver` the newcomer
   * is refused (`in-use`); with it (a page re-joining after a lost connection,
   * or the person chose "use this tab") the older connection is closed with
   * `closing` code `replaced`, which its page does not retry.
   */
  private claimToken(peer: Peer, takeOver: boolean): void {
    // Broadcaster links only: an admin may watch from several tabs.
    if (!peer.tokenId || peer.role !== 'publisher') return;
    const holder = [...this.hosts].find((p) => p !== peer && p.tokenId === peer.tokenId);
    if (!holder) return;
    if (!takeOver) {
      throw new ProtocolError('in-use', 'this broadcaster link is already open in another tab or window; close it there, or choose to use it here instead');
    }
    this.log.info({ replaced: holder.id, by: peer.id }, 'broadcaster link taken over by a new connection');
    const reason = 'this broadcaster link was opened in another tab or window, which took over';
    holder.notify('closing', { reason, code: 'replaced' });
    holder.link.close(4009, reason);
    this.leave(holder);
  }

  /** A viewer's name that claims a role, or is a host's name here: the viewer gets a neutral one. */
  private impersonates(name: string): boolean {
    const lower = name.toLowerCase();
    return isReservedName(name) || [...this.hosts].some((p) => p.name.toLowerCase() === lower);
  }

  leave(peer: Peer): void {
    if (this.peerMap.get(peer.id) !== peer) return;
    this.peerMap.delete(peer.id);
    this.hosts.delete(peer);
    this.calls.peerLeft(peer);
    this.invitations.peerLeft(peer);
    this.stage.leave(peer);
    peer.close();
    this.presenceChanged();
    if (this.isEmpty && !peer.relay) this.emit('empty');
  }

  /** Nobody of this node is here: relayed broadcasters of another node alone do not keep a room open. */
  get isEmpty(): boolean {
    for (const p of this.peerMap.values()) if (!p.relay) return false;
    return true;
  }

  /** Closes the room. `shutdown` (the node restarts) tells clients to come back; `room-closed` is final. */
  close(reason = 'room closed', code: 'room-closed' | 'shutdown' = 'room-closed'): void {
    if (this.closedFlag) return;
    for (const peer of [...this.peerMap.values()]) {
      peer.notify('closing', { reason, code });
      peer.link.close(4000, reason);
      this.leave(peer);
    }
    this.closedFlag = true;
    this.calls.close();
    this.invitations.close();
    this.presence.close();
    this.chat.close();
    this.opts.media.close();
    this.emit('close');
  }

  participants(): ParticipantInfo[] {
    return [...this.peerMap.values()].map((p) => ({
      peerId: p.id,
      name: p.name,
      role: p.role,
      onStage: p.onStage,
      ...(this.invitations.hasHand(p) ? { handRaised: true } : {}),
      ...(this.calls.inCall(p) ? { inCall: true } : {}),
    }));
  }

  /** A read-only picture for admin and metrics; `participants: false` skips the per-peer part (lists, scrapes). */
  describe(opts: { participants?: boolean } = {}): RoomSnapshot {
    const producers = { audio: 0, video: 0 };
    for (const peer of this.stage.peers) for (const { producer } of peer.producers.values()) if (!producer.closed) producers[producer.kind]++;
    const calls = this.calls.list();
    return {
      id: this.id,
      createdAt: this.createdAt,
      viewers: this.viewerCount,
      peers: this.peerMap.size,
      publishers: this.stage.peers.map((p) => ({ peerId: p.id, name: p.name, relay: p.relay })),
      chat: { messages: this.chat.log.size, lastSeq: this.chat.log.lastSeq, epoch: this.chat.log.epoch },
      routers: this.opts.media.describeRouters(),
      producers,
      stage: { guests: this.invitations.guests, hands: this.invitations.raisedHands().length, invitations: this.invitations.list().length },
      calls: { ringing: calls.filter((c) => c.state === 'ringing').length, active: calls.filter((c) => c.state === 'active').length },
      ...(opts.participants === false ? {} : { participants: [...this.peerMap.values()].map(describePeer) }),
    };
  }

  // ---- media events ------------------------------------------------------------

  private onRouterLost(rr: RoomRouter, wasOrigin: boolean): void {
    for (const peer of this.peerMap.values()) {
      if (peer.closed || !peer.media.affectedBy(rr)) continue;
      // The client rebuilds all of its media after a reset: drop the server side of it too,
      // so no transport or consumer outlives its client twin.
      peer.media.reset();
      peer.notify('mediaReset', { reason: wasOrigin ? 'the room’s media server restarted' : 'your media server restarted' });
    }
    this.log.warn({ worker: rr.workerIndex, wasOrigin }, 'media reset sent to affected peers');
  }

  // ---- presence ----------------------------------------------------------------

  private presenceChanged(): void {
    this.presenceVersion++;
    this.presence.changed();
  }

  /** Viewer count (and the participant list of small rooms), each only when changed. */
  private sendPresence(): void {
    const count = this.totalViewers;
    if (count !== this.lastCountSent) {
      this.lastCountSent = count;
      this.broadcast('viewerCount', { count });
    }
    if (this.presenceVersion === this.lastPresenceSent) return;
    const peers = this.participantList();
    if (peers) {
      this.lastPresenceSent = this.presenceVersion;
      this.broadcast('participants', { peers });
    }
  }

  /** Everyone in the room, on every node, while the room is small enough to list (else undefined). */
  private participantList(): ParticipantInfo[] | undefined {
    const remote = this.remote.participants;
    if (!remote || this.peerMap.size + this.remote.peers > this.opts.participantListMax) return undefined;
    // A relayed broadcaster is listed by its own node too: once.
    const seen = new Set(remote.map((p) => p.peerId));
    return [...this.participants().filter((p) => !seen.has(p.peerId)), ...remote];
  }
}
