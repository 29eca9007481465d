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

const MAX_TRANSPORTS_PER_PEER = 4;

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
  private readonly bans = new Set<string>();
  private closedFlag = false;

  constructor(private readonly opts: RoomOptions) {
    super();
    this.id = opts.id;
    this.topic = `room/${opts.id}`;
    this.chat = new ChatLog(opts.chat.history);
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
    return keys.some((k) => this.bans.has(k));
  }

  leave(peer: Peer): void {
    if (this.peers.get(peer.id) !== peer) return;
    this.peers.delete(peer.id);
    this.hosts.delete(peer);
    this.leaveStage(peer);
    if (peer.recvRouter) this.media.release(peer.recvRouter);
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
    if (peer.transports.size >= MAX_TRANSPORTS_PER_PEER) {
      throw new ProtocolError('invalid-state', `at most ${MAX_TRANSPORTS_PER_PEER} transports per peer; close one first`);
    }
    if (direction === 'send' && !peer.canPublish) throw new ProtocolError('forbidden', 'your access token does not allow publishing');
    let rr: RoomRouter;
    if (direction === 'send') {
      rr = await this.media.origin();
    } else {
      peer.recvRouter ??= await this.media.placeViewer();
      rr = peer.recvRouter;
    }
    if (peer.closed) throw new ProtocolError('invalid-state', 'peer left');
    const transport = await rr.router.createWebRtcTransport({
      webRtcServer: rr.worker.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 1_000_000,
      appData: { peerId: peer.id, direction },
    });
    if (peer.closed) {
      transport.close();
      throw new ProtocolError('invalid-state', 'peer left');
    }
    if (direction === 'send') await transport.setMaxIncomingBitrate(4_000_000).catch(() => undefined);
    peer.transports.set(transport.id, { transport, rr, direction });
    transport.observer.once('close', () => peer.transports.delete(transport.id));
    // mediasoup closes a dead worker's transports before the router reports the loss: remember it.
    transport.on('routerclose', () => (peer.mediaLost = true));
    return {
      transportId: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
    };
  }

  async connectTransport(peer: Peer, { transportId, dtlsParameters }: ParsedRequestData<'connectTransport'>): Promise<void> {
    const { transport } = this.transportOf(peer, transportId);
    await mediasoupCall(() => transport.connect({ dtlsParameters: dtlsParameters as ms.DtlsParameters }));
  }

  async restartIce(peer: Peer, { transportId }: ParsedRequestData<'restartIce'>): Promise<{ iceParameters: unknown }> {
    const { transport } = this.transportOf(peer, transportId);
    return { iceParameters: await transport.restartIce() };
  }

  // ---- publishing --------------------------------------------------------------

  async produce(peer: Peer, req: ParsedRequestData<'produce'>): Promise<{ producerId: string }> {
    if (!peer.canPublish) throw new ProtocolError('forbidden', 'your access token does not allow publishing');
    const expectedKind = req.source === 'camera' ? 'video' : 'audio';
    if (req.kind !== expectedKind) throw new ProtocolError('bad-request', `source "${req.source}" must be ${expectedKind}`);
    for (const p of peer.producers.values()) {
      if (p.source === req.source) throw new ProtocolError('invalid-state', `you already publish a ${req.source}; close it first`);
    }
    const t = this.transportOf(peer, req.transportId);
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
    this.takeStageSlot(peer);

    const producer = await mediasoupCall(() =>
      transport.produce({
        kind: req.kind,
        rtpParameters: req.rtpParameters,
        keyFrameRequestDelay: this.opts.keyFrameRequestDelayMs,
        appData: { peerId: peer.id, source: req.source },
      }),
    ).catch((err: unknown) => {
      if (peer.producers.size === 0) this.leaveStage(peer);
      throw err;
    });
    peer.producers.set(producer.id, { producer, source: req.source });
    if (req.kind === 'audio' && peer.audioLocked) await producer.pause();
    // Worker death closes the transport: keep the stage slot, the client re-produces after mediaReset.
    producer.on('transportclose', () => this.forgetProducer(peer, producer, false));
    await this.media.addProducer(producer);
    if (producer.closed) throw new ProtocolError('invalid-state', 'producer closed while starting');
    this.broadcast('newProducer', producerInfo(peer, producer.id, req.source, producer));
    return producer;
  }

  closeProducer(peer: Peer, { producerId }: ParsedRequestData<'closeProducer'>): void {
    const { producer } = this.producerOf(peer, producerId);
    producer.close();
    this.forgetProducer(peer, producer, true);
  }

  async setProducerPaused(peer: Peer, producerId: string, paused: boolean): Promise<void> {
    const { producer } = this.producerOf(peer, producerId);
    if (!paused && producer.kind === 'audio' && peer.audioLocked) {
      throw new ProtocolError('forbidden', 'a moderator muted your microphone; it stays muted');
    }
    if (paused) await producer.pause();
    else await producer.resume();
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
    for (const [id, { producer }] of peer.producers) {
      producer.close();
      peer.producers.delete(id);
      this.broadcast('producerClosed', { producerId: id, peerId: peer.id });
    }
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

  private forgetProducer(peer: Peer, producer: ms.Producer, releaseSlotIfLast: boolean): void {
    if (!peer.producers.delete(producer.id)) return;
    this.broadcast('producerClosed', { producerId: producer.id, peerId: peer.id });
    if (releaseSlotIfLast && peer.producers.size === 0) this.leaveStage(peer);
  }

  // ---- consuming ---------------------------------------------------------------

  setRtpCapabilities(peer: Peer, { rtpCapabilities }: ParsedRequestData<'setRtpCapabilities'>): void {
    peer.rtpCapabilities = rtpCapabilities as ms.RtpCapabilities;
  }

  async consume(peer: Peer, { producerId }: ParsedRequestData<'consume'>): Promise<ConsumerInfo> {
    if (!peer.rtpCapabilities) throw new ProtocolError('invalid-state', 'send setRtpCapabilities before consume');
    const owner = this.findProducerOwner(producerId);
    if (!owner) throw new ProtocolError('not-found', `no producer ${producerId} in this room`);
    const recv = [...peer.transports.values()].find((t) => t.direction === 'recv');
    if (!recv) throw new ProtocolError('invalid-state', 'create a recv transport before consume');
    if (owner.peer === peer) throw new ProtocolError('bad-request', 'you cannot consume your own producer');
    if (!recv.rr.router.canConsume({ producerId, rtpCapabilities: peer.rtpCapabilities })) {
      throw new ProtocolError('bad-request', 'your device cannot receive this producer (codec mismatch)');
    }
    for (const c of peer.consumers.values()) {
      if (c.producerId === producerId && !c.closed) throw new ProtocolError('invalid-state', `already consuming ${producerId}`);
    }
    const consumer = await mediasoupCall(() =>
      recv.transport.consume({ producerId, rtpCapabilities: peer.rtpCapabilities!, paused: true, appData: { peerId: peer.id } }),
    );
    peer.consumers.set(consumer.id, consumer);
    consumer.observer.once('close', () => peer.consumers.delete(consumer.id));
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
    const consumer = this.consumerOf(peer, consumerId);
    if (paused) await consumer.pause();
    else await consumer.resume();
  }

  async setPreferredLayers(peer: Peer, { consumerId, spatialLayer, temporalLayer }: ParsedRequestData<'setPreferredLayers'>): Promise<void> {
    const consumer = this.consumerOf(peer, consumerId);
    if (consumer.type !== 'simulcast' && consumer.type !== 'svc') return;
    await consumer.setPreferredLayers(temporalLayer === undefined ? { spatialLayer } : { spatialLayer, temporalLayer });
  }

  async requestKeyFrame(peer: Peer, { consumerId }: ParsedRequestData<'requestKeyFrame'>): Promise<void> {
    // Rate-limited towards the broadcaster by the producer's keyFrameRequestDelay.
    await this.consumerOf(peer, consumerId).requestKeyFrame();
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
    if (opts.ban) for (const k of target.banKeys) this.bans.add(k);
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

  private transportOf(peer: Peer, transportId: string) {
    const t = peer.transports.get(transportId);
    if (!t) throw new ProtocolError('not-found', `no transport ${transportId} of yours`);
    return t;
  }

  private producerOf(peer: Peer, producerId: string) {
    const p = peer.producers.get(producerId);
    if (!p) throw new ProtocolError('not-found', `no producer ${producerId} of yours`);
    return p;
  }

  private consumerOf(peer: Peer, consumerId: string): ms.Consumer {
    const c = peer.consumers.get(consumerId);
    if (!c) throw new ProtocolError('not-found', `no consumer ${consumerId} of yours`);
    return c;
  }

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
      const affected = peer.mediaLost || peer.recvRouter === rr || [...peer.transports.values()].some((t) => t.rr === rr);
      if (!affected) continue;
      peer.mediaLost = false;
      // The client rebuilds all of its media after a reset: drop the server side of it too,
      // so no transport or consumer outlives its client twin.
      peer.forgetMediaOn(rr);
      if (peer.recvRouter) this.media.release(peer.recvRouter);
      peer.recvRouter = undefined;
      peer.closeMedia();
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

function producerInfos(peer: Peer): ProducerInfo[] {
  return [...peer.producers.values()].filter((p) => !p.producer.closed).map((p) => producerInfo(peer, p.producer.id, p.source, p.producer));
}

/** mediasoup throws TypeError for invalid parameters: that is the client's fault, not ours. */
async function mediasoupCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TypeError || (err as Error)?.name === 'UnsupportedError') {
      throw new ProtocolError('bad-request', (err as Error).message);
    }
    throw err;
  }
}
