import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import type { RoomMedia, RoomRouter } from '../media/roomMedia.js';
import {
  MAX_PUBLISHERS,
  ProtocolError,
  isReservedName,
  notification,
  type ChatSync,
  type ConsumerInfo,
  type MediaSource,
  type ParticipantInfo,
  type NotificationName,
  type Notifications,
  type ParsedRequestData,
  type ProducerInfo,
  type PublisherInfo,
  type ResponseData,
  type TransportInfo,
} from '../protocol/messages.js';
import type { Peer } from './peer.js';
import { ChatLog, normaliseChatText } from '../chat/chatLog.js';
import type { RoomBans } from '../moderation/banList.js';
import type { ParticipantSnapshot, RoomSnapshot } from './snapshot.js';

export interface RoomOptions {
  id: string;
  media: RoomMedia;
  log: Logger;
  /** Sends one serialised message to every peer of the room (uWS topic publish: serialised once). */
  publish: (topic: string, message: string) => void;
  /** mediasoup `keyFrameRequestDelay`: at most one key frame request per producer per this many ms. */
  keyFrameRequestDelayMs: number;
  /** Viewer count pushes are throttled to one per this many ms. */
  presenceIntervalMs: number;
  chat: ChatOptions;
  /** Rooms up to this many peers also get the participant list. */
  participantListMax: number;
  /** Node-wide bans of this room (they outlive the room); default: bans that die with it. */
  bans?: RoomBans;
}

export interface ChatOptions {
  history: number;
  maxLength: number;
  ratePerSecond: number;
  burst: number;
}

interface RoomEvents {
  /** The last peer left. */
  empty: [];
  close: [];
  /** A peer joined or left (metrics, admin). */
  peerschanged: [];
}

/**
 * A room: its peers, its four publisher slots and its media. Requests arrive
 * already validated by the protocol module; errors are thrown as ProtocolError
 * and returned to the requesting peer only.
 */
export class Room extends EventEmitter<RoomEvents> {
  readonly id: string;
  readonly topic: string;
  readonly peers = new Map<string, Peer>();
  readonly createdAt = Date.now();
  private readonly stage = new Set<Peer>();
  private lastSpeaker: string | null = null;
  private countTimer: NodeJS.Timeout | undefined;
  private countDirty = false;
  private lastCountSent = -1;
  private presenceVersion = 0;
  private lastPresenceSent = -1;
  readonly chat: ChatLog;
  private readonly bans: RoomBans;
  private closedFlag = false;

  constructor(private readonly opts: RoomOptions) {
    super();
    this.id = opts.id;
    this.topic = `room/${opts.id}`;
    this.chat = new ChatLog(opts.chat.history);
    this.bans = opts.bans ?? localBans();
    opts.media.on('routerlost', (rr, wasOrigin) => this.onRouterLost(rr, wasOrigin));
    opts.media.on('dominantspeaker', (producerId) => this.onDominantSpeaker(producerId));
    opts.media.on('volumes', (levels) => this.onVolumes(levels));
  }

  get media(): RoomMedia {
    return this.opts.media;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get log(): Logger {
    return this.opts.log;
  }

  /** Peers that may broadcast (on stage or not): hosts, not audience. Kept apart so checks on them do not walk every viewer. */
  private readonly hosts = new Set<Peer>();

  /** The audience: everyone who is neither on stage nor a host waiting to go live. */
  get viewerCount(): number {
    let stageViewers = 0;
    for (const p of this.stage) if (!p.canPublish) stageViewers++;
    return this.peers.size - this.hosts.size - stageViewers;
  }

  get publishers(): Peer[] {
    return [...this.stage];
  }

  /** A read-only picture for admin and metrics; `participants: false` skips the per-peer part (lists, scrapes). */
  describe(opts: { participants?: boolean } = {}): RoomSnapshot {
    const producers = { audio: 0, video: 0 };
    for (const peer of this.stage) for (const { producer } of peer.producers.values()) if (!producer.closed) producers[producer.kind]++;
    return {
      id: this.id,
      createdAt: this.createdAt,
      viewers: this.viewerCount,
      peers: this.peers.size,
      publishers: this.publishers.map((p) => ({ peerId: p.id, name: p.name })),
      chat: { messages: this.chat.size, lastSeq: this.chat.lastSeq, epoch: this.chat.epoch },
      routers: this.media.describeRouters(),
      producers,
      ...(opts.participants === false ? {} : { participants: [...this.peers.values()].map(describePeer) }),
    };
  }

  broadcast<N extends NotificationName>(method: N, data: Notifications[N]): void {
    if (!this.closedFlag) this.opts.publish(this.topic, notification(method, data));
  }

  // ---- membership ------------------------------------------------------------

  async join(peer: Peer, opts: { chatSince?: number | undefined; chatEpoch?: string | undefined; takeOver?: boolean | undefined } = {}): Promise<ResponseData['join']> {
    if (this.closedFlag) throw new ProtocolError('invalid-state', 'room is closing; join again');
    if (this.isBanned(peer.banKeys)) throw new ProtocolError('forbidden', 'you are banned from this room');
    this.claimToken(peer, opts.takeOver === true);
    const caps = await this.media.rtpCapabilities;
    // Re-checked after the await: two tabs joining at once must not both get in.
    this.claimToken(peer, opts.takeOver === true);
    if (this.closedFlag || this.media.closed) throw new ProtocolError('invalid-state', 'room is closing; join again');
    if (peer.closed) throw new ProtocolError('invalid-state', 'you left the room');
    peer.attachMedia(this.media.createPeerMedia(peer.id));
    peer.media.on('producerlost', (producerId) => this.onProducerLost(peer, producerId));
    if (peer.role === 'viewer' && this.impersonates(peer.name)) peer.name = `Viewer ${Math.floor(Math.random() * 9000 + 1000)}`;
    this.peers.set(peer.id, peer);
    if (peer.canPublish) this.hosts.add(peer);
    this.scheduleViewerCount();
    this.emit('peerschanged');
    return {
      peerId: peer.id,
      room: this.id,
      role: peer.role,
      name: peer.name,
      canPublish: peer.canPublish,
      routerRtpCapabilities: caps,
      publishers: this.publisherInfos(),
      viewerCount: this.viewerCount,
      maxPublishers: MAX_PUBLISHERS,
      chat: this.chat.sync(opts.chatSince, opts.chatEpoch),
      moderator: peer.isModerator,
    };
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

  isBanned(keys: string[]): boolean {
    return this.bans.isBanned(keys);
  }

  leave(peer: Peer): void {
    if (this.peers.get(peer.id) !== peer) return;
    this.peers.delete(peer.id);
    this.hosts.delete(peer);
    this.leaveStage(peer);
    peer.close();
    this.scheduleViewerCount();
    this.emit('peerschanged');
    if (this.peers.size === 0) this.emit('empty');
  }

  publisherInfos(): PublisherInfo[] {
    return this.publishers.map((p) => ({ peerId: p.id, name: p.name, producers: producerInfos(p) }));
  }

  /** Closes the room. `shutdown` (the node restarts) tells clients to come back; `room-closed` is final. */
  close(reason = 'room closed', code: 'room-closed' | 'shutdown' = 'room-closed'): void {
    if (this.closedFlag) return;
    for (const peer of [...this.peers.values()]) {
      peer.notify('closing', { reason, code });
      peer.link.close(4000, reason);
      this.leave(peer);
    }
    this.closedFlag = true;
    clearTimeout(this.countTimer);
    this.media.close();
    this.emit('close');
  }

  // ---- transports ------------------------------------------------------------

  async createTransport(peer: Peer, { direction }: ParsedRequestData<'createTransport'>): Promise<TransportInfo> {
    if (direction === 'send' && !peer.canPublish) throw new ProtocolError('forbidden', 'your access token does not allow publishing');
    // A room costs no router until a broadcaster arrives: a viewer asks for media once there is some.
    if (direction === 'recv' && !peer.canPublish && this.hosts.size === 0 && this.stage.size === 0) {
      throw new ProtocolError('invalid-state', 'nobody is on stage yet: create the receive transport when a broadcaster arrives');
    }
    const transport = await peer.media.createTransport(direction);
    return {
      transportId: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
    };
  }

  async connectTransport(peer: Peer, { transportId, dtlsParameters }: ParsedRequestData<'connectTransport'>): Promise<void> {
    await peer.media.connect(transportId, dtlsParameters as ms.DtlsParameters);
  }

  async restartIce(peer: Peer, { transportId }: ParsedRequestData<'restartIce'>): Promise<{ iceParameters: unknown }> {
    return { iceParameters: await peer.media.restartIce(transportId) };
  }

  // ---- publishing --------------------------------------------------------------

  async produce(peer: Peer, req: ParsedRequestData<'produce'>): Promise<{ producerId: string }> {
    if (!peer.canPublish) throw new ProtocolError('forbidden', 'your access token does not allow publishing');
    const expectedKind = req.source === 'camera' ? 'video' : 'audio';
    if (req.kind !== expectedKind) throw new ProtocolError('bad-request', `source "${req.source}" must be ${expectedKind}`);
    const t = peer.media.transport(req.transportId);
    if (t.direction !== 'send') throw new ProtocolError('bad-request', 'produce needs a send transport');
    const producer = await this.produceOn(peer, t.transport, { kind: req.kind, rtpParameters: req.rtpParameters as ms.RtpParameters, source: req.source });
    return { producerId: producer.id };
  }

  /**
   * Puts `peer` on stage (stage-full past four) and produces on `transport`, a
   * transport of the origin router: a browser's send transport, or a
   * server-side RTP ingest (rooms/probes.ts). Viewers get `newProducer`.
   */
  async produceOn(peer: Peer, transport: ms.Transport, req: { kind: ms.MediaKind; rtpParameters: ms.RtpParameters; source: MediaSource }): Promise<ms.Producer> {
    const unit = peer.media;
    this.takeStageSlot(peer);
    let producer: ms.Producer;
    try {
      producer = await unit.produce(transport, { ...req, keyFrameRequestDelay: this.opts.keyFrameRequestDelayMs, paused: req.kind === 'audio' && peer.audioLocked });
    } catch (err) {
      if (peer.producers.size === 0 && unit.producing === 0) this.leaveStage(peer);
      throw err;
    }
    // Re-checked after the await: the peer may have left, or given up its slot meanwhile.
    if (peer.closed || !peer.onStage || producer.closed) {
      if (!producer.closed) unit.closeProducer(producer.id);
      if (peer.producers.size === 0 && unit.producing === 0) this.leaveStage(peer);
      throw new ProtocolError('invalid-state', 'you left the stage while this producer was starting');
    }
    this.broadcast('newProducer', producerInfo(peer, producer.id, req.source, producer));
    return producer;
  }

  closeProducer(peer: Peer, { producerId }: ParsedRequestData<'closeProducer'>): void {
    peer.media.closeProducer(producerId);
    this.broadcast('producerClosed', { producerId, peerId: peer.id });
    // A produce still starting keeps the slot; if it fails, produceOn gives the slot back.
    if (peer.producers.size === 0 && peer.media.producing === 0) this.leaveStage(peer);
  }

  async setProducerPaused(peer: Peer, producerId: string, paused: boolean): Promise<void> {
    const { producer } = peer.media.producer(producerId);
    if (!paused && producer.kind === 'audio' && peer.audioLocked) {
      throw new ProtocolError('forbidden', 'a moderator muted your microphone; it stays muted');
    }
    await peer.media.request(paused ? producer.pause() : producer.resume(), paused ? 'pauseProducer' : 'resumeProducer');
    this.broadcast(paused ? 'producerPaused' : 'producerResumed', { producerId, peerId: peer.id });
  }

  /**
   * Admin/moderator mute: pauses every audio producer of a publisher and keeps
   * it muted for this connection (resume refused, a new mic produced paused).
   * The publisher is told, so its page shows it.
   */
  async mute(peer: Peer, reason = 'a moderator muted your microphone'): Promise<number> {
    peer.audioLocked = true;
    peer.notify('moderatorMuted', { kind: 'audio', reason });
    let n = 0;
    for (const { producer } of peer.producers.values()) {
      if (producer.kind === 'audio' && !producer.paused) {
        await this.setProducerPaused(peer, producer.id, true);
        n++;
      }
    }
    return n;
  }

  private takeStageSlot(peer: Peer): void {
    if (peer.onStage) return;
    if (this.stage.size >= MAX_PUBLISHERS) {
      throw new ProtocolError('stage-full', `the stage already has ${MAX_PUBLISHERS} broadcasters; wait for one to leave`);
    }
    peer.onStage = true;
    this.stage.add(peer);
    this.broadcast('publisherJoined', { peerId: peer.id, name: peer.name });
    this.scheduleViewerCount();
  }

  private leaveStage(peer: Peer): void {
    if (!peer.onStage) return;
    for (const id of peer.closed ? [] : peer.media.closeProducers()) this.broadcast('producerClosed', { producerId: id, peerId: peer.id });
    const wasFull = this.stage.size >= MAX_PUBLISHERS;
    peer.onStage = false;
    this.stage.delete(peer);
    this.broadcast('publisherLeft', { peerId: peer.id });
    this.scheduleViewerCount();
    // Broadcasters waiting for a seat are told (viewers see publisherLeft alone).
    if (wasFull) {
      const free = MAX_PUBLISHERS - this.stage.size;
      for (const p of this.hosts) if (!p.onStage && p !== peer) p.notify('seatAvailable', { free });
    }
  }

  /** A producer closed with its transport (worker death, ingest stopped): the stage slot is kept, the client re-produces after mediaReset. */
  private onProducerLost(peer: Peer, producerId: string): void {
    this.broadcast('producerClosed', { producerId, peerId: peer.id });
  }

  // ---- consuming ---------------------------------------------------------------

  setRtpCapabilities(peer: Peer, { rtpCapabilities }: ParsedRequestData<'setRtpCapabilities'>): void {
    peer.rtpCapabilities = rtpCapabilities as ms.RtpCapabilities;
  }

  async consume(peer: Peer, { producerId }: ParsedRequestData<'consume'>): Promise<ConsumerInfo> {
    if (!peer.rtpCapabilities) throw new ProtocolError('invalid-state', 'send setRtpCapabilities before consume');
    const owner = this.findProducerOwner(producerId);
    if (!owner) throw new ProtocolError('not-found', `no producer ${producerId} in this room`);
    if (owner.peer === peer) throw new ProtocolError('bad-request', 'you cannot consume your own producer');
    const consumer = await peer.media.consume(producerId, peer.rtpCapabilities);
    consumer.on('producerclose', () => peer.notify('consumerClosed', { consumerId: consumer.id, producerId }));
    consumer.on('layerschange', (layers) =>
      peer.notify('consumerLayersChanged', {
        consumerId: consumer.id,
        spatialLayer: layers?.spatialLayer ?? null,
        temporalLayer: layers?.temporalLayer ?? null,
      }),
    );
    return {
      consumerId: consumer.id,
      producerId,
      peerId: owner.peer.id,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    };
  }

  async setConsumerPaused(peer: Peer, consumerId: string, paused: boolean): Promise<void> {
    const consumer = peer.media.consumer(consumerId);
    await peer.media.request(paused ? consumer.pause() : consumer.resume(), paused ? 'pauseConsumer' : 'resumeConsumer');
  }

  async setPreferredLayers(peer: Peer, { consumerId, spatialLayer, temporalLayer }: ParsedRequestData<'setPreferredLayers'>): Promise<void> {
    const consumer = peer.media.consumer(consumerId);
    if (consumer.type !== 'simulcast' && consumer.type !== 'svc') return;
    await peer.media.request(consumer.setPreferredLayers(temporalLayer === undefined ? { spatialLayer } : { spatialLayer, temporalLayer }), 'setPreferredLayers');
  }

  async requestKeyFrame(peer: Peer, { consumerId }: ParsedRequestData<'requestKeyFrame'>): Promise<void> {
    // Rate-limited towards the broadcaster by the producer's keyFrameRequestDelay.
    await peer.media.request(peer.media.consumer(consumerId).requestKeyFrame(), 'requestKeyFrame');
  }

  // ---- chat and moderation -------------------------------------------------------

  sendChat(peer: Peer, raw: string): ResponseData['chatSend'] {
    const text = normaliseChatText(raw);
    if (!text) throw new ProtocolError('bad-request', 'message is empty');
    if ([...text].length > this.opts.chat.maxLength) throw new ProtocolError('too-large', `messages are limited to ${this.opts.chat.maxLength} characters`);
    if (!peer.isModerator && !peer.chatBucket.take()) throw new ProtocolError('rate-limited', 'you are sending messages too fast; wait a moment');
    const message = this.chat.append({ peerId: peer.id, name: peer.name, role: peer.role }, text);
    this.broadcast('chatMessage', { ...message, epoch: this.chat.epoch });
    return { id: message.id, seq: message.seq, ts: message.ts };
  }

  syncChat(since: number | undefined, epoch?: string): ChatSync {
    return this.chat.sync(since, epoch);
  }

  /** Deletes a message for everyone. `by` is a moderator peer, or undefined for the admin API. */
  deleteChat(messageId: string, by?: Peer): void {
    if (by && !by.isModerator) throw new ProtocolError('forbidden', 'only moderators can delete messages');
    const deleted = this.chat.delete(messageId);
    if (!deleted) throw new ProtocolError('not-found', `no message ${messageId} in this room's history`);
    this.broadcast('chatDeleted', deleted);
  }

  clearChat(by?: Peer): void {
    if (by && by.role !== 'admin') throw new ProtocolError('forbidden', 'only admins can clear the chat');
    this.broadcast('chatCleared', this.chat.clear());
  }

  /** Removes a peer from the room; with `ban`, its token and address cannot come back. */
  kick(peerId: string, opts: { by?: Peer; ban?: boolean; reason?: string | undefined } = {}): void {
    const target = this.peers.get(peerId);
    if (!target) throw new ProtocolError('not-found', `no peer ${peerId} in this room`);
    const by = opts.by;
    if (by) {
      if (!by.isModerator) throw new ProtocolError('forbidden', 'only moderators can remove people');
      if (target === by) throw new ProtocolError('bad-request', 'you cannot remove yourself; leave instead');
      if (target.role === 'admin' || (target.isModerator && by.role !== 'admin')) throw new ProtocolError('forbidden', 'only an admin can remove a broadcaster');
    }
    if (opts.ban) this.bans.ban(target.banKeys);
    const reason = opts.reason ?? (opts.ban ? 'banned from this room' : 'removed from this room');
    this.log.info({ target: peerId, by: by?.id ?? 'admin-api', ban: Boolean(opts.ban) }, 'peer removed');
    target.notify('closing', { reason, code: opts.ban ? 'banned' : 'kicked' });
    target.link.close(opts.ban ? 4003 : 4001, reason);
    this.leave(target);
  }

  participants(): ParticipantInfo[] {
    return [...this.peers.values()].map((p) => ({ peerId: p.id, name: p.name, role: p.role, onStage: p.onStage }));
  }

  // ---- lookups -----------------------------------------------------------------

  private findProducerOwner(producerId: string): { peer: Peer; producer: ms.Producer } | undefined {
    for (const peer of this.stage) {
      const p = peer.producers.get(producerId);
      if (p && !p.producer.closed) return { peer, producer: p.producer };
    }
    return undefined;
  }

  // ---- media events ------------------------------------------------------------

  private onRouterLost(rr: RoomRouter, wasOrigin: boolean): void {
    for (const peer of this.peers.values()) {
      if (!peer.media.affectedBy(rr)) continue;
      // The client rebuilds all of its media after a reset: drop the server side of it too,
      // so no transport or consumer outlives its client twin.
      peer.media.reset();
      peer.notify('mediaReset', { reason: wasOrigin ? 'the room’s media server restarted' : 'your media server restarted' });
    }
    this.log.warn({ worker: rr.workerIndex, wasOrigin }, 'media reset sent to affected peers');
  }

  private onDominantSpeaker(producerId: string | null): void {
    const peerId = producerId ? (this.findProducerOwner(producerId)?.peer.id ?? null) : null;
    if (peerId === this.lastSpeaker) return;
    this.lastSpeaker = peerId;
    this.broadcast('activeSpeaker', { peerId });
  }

  private onVolumes(levels: { producerId: string; volume: number }[]): void {
    const out: { peerId: string; volume: number }[] = [];
    for (const l of levels) {
      const owner = this.findProducerOwner(l.producerId);
      if (owner) out.push({ peerId: owner.peer.id, volume: l.volume });
    }
    this.broadcast('audioLevels', { levels: out });
  }

  /** Viewer count (and the participant list of small rooms) go out at most once per interval, only when changed. */
  private scheduleViewerCount(): void {
    this.presenceVersion++;
    if (this.countTimer) {
      this.countDirty = true;
      return;
    }
    this.sendViewerCount();
    this.countTimer = setTimeout(() => {
      this.countTimer = undefined;
      if (this.countDirty) {
        this.countDirty = false;
        this.scheduleViewerCount();
      }
    }, this.opts.presenceIntervalMs);
    this.countTimer.unref();
  }

  private sendViewerCount(): void {
    const count = this.viewerCount;
    if (count !== this.lastCountSent) {
      this.lastCountSent = count;
      this.broadcast('viewerCount', { count });
    }
    if (this.presenceVersion !== this.lastPresenceSent && this.peers.size <= this.opts.participantListMax) {
      this.lastPresenceSent = this.presenceVersion;
      this.broadcast('participants', { peers: this.participants() });
    }
  }
}

function producerInfo(peer: Peer, producerId: string, source: ProducerInfo['source'], producer: ms.Producer): ProducerInfo {
  return { producerId, peerId: peer.id, kind: producer.kind, source, paused: producer.paused };
}

function describePeer(p: Peer): ParticipantSnapshot {
  return {
    peerId: p.id,
    name: p.name,
    role: p.role,
    onStage: p.onStage,
    joinedAt: p.joinedAt,
    producers: [...p.producers.values()]
      .filter(({ producer }) => !producer.closed)
      .map(({ producer, source }) => ({ producerId: producer.id, kind: producer.kind, source, paused: producer.paused })),
    consumers: p.consumers.size,
    transports: p.transports.size,
    recvWorker: p.recvRouter?.workerIndex ?? null,
  };
}

function producerInfos(peer: Peer): ProducerInfo[] {
  return [...peer.producers.values()].filter((p) => !p.producer.closed).map((p) => producerInfo(peer, p.producer.id, p.source, p.producer));
}

/** Bans held by the room alone (a room built without the node's ban list, as in unit tests). */
function localBans(): RoomBans {
  const keys = new Set<string>();
  return { ban: (ks) => ks.forEach((k) => keys.add(k)), isBanned: (ks) => ks.some((k) => keys.has(k)) };
}
