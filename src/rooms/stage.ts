import type { types as ms } from 'mediasoup';
import {
  MAX_PUBLISHERS,
  ProtocolError,
  type MediaSource,
  type NotificationName,
  type Notifications,
  type ParsedRequestData,
  type ProducerInfo,
  type PublisherInfo,
} from '../protocol/messages.js';
import type { Peer } from './peer.js';

/** What the stage needs of its room. */
export interface StageRoom {
  broadcast<N extends NotificationName>(method: N, data: Notifications[N]): void;
  /** Peers that may broadcast, on stage or waiting for a seat. */
  readonly hosts: ReadonlySet<Peer>;
  /** The audience changed size (a viewer went on stage or came back). */
  presenceChanged(): void;
  /** mediasoup `keyFrameRequestDelay`: at most one key frame request per producer per this many ms. */
  readonly keyFrameRequestDelayMs: number;
  /** `peer` gave its slot back (a guest returns to the audience). */
  leftStage?(peer: Peer): void;
}

/**
 * The four publisher slots of a room and what is produced into them. A slot is
 * taken before the first await of a produce and given back when its peer's last
 * producer closes (or the produce fails), so concurrent produces cannot seat a
 * fifth broadcaster.
 */
export class Stage {
  private readonly slots = new Set<Peer>();
  private lastSpeaker: string | null = null;

  constructor(private readonly room: StageRoom) {}

  get size(): number {
    return this.slots.size;
  }

  get peers(): Peer[] {
    return [...this.slots];
  }

  infos(): PublisherInfo[] {
    return this.peers.map((p) => ({ peerId: p.id, name: p.name, producers: producerInfos(p), ...(p.guest ? { guest: true } : {}) }));
  }

  /** A browser's produce request: its source, kind and send transport must agree. */
  async produce(peer: Peer, req: ParsedRequestData<'produce'>): Promise<{ producerId: string }> {
    if (!peer.canPublish) throw new ProtocolError('forbidden', 'your access token does not allow publishing');
    if (peer.guest && req.source === 'camera' && !peer.guest.video) throw new ProtocolError('forbidden', 'you were invited with your microphone only');
    const expectedKind = req.source === 'camera' ? 'video' : 'audio';
    if (req.kind !== expectedKind) throw new ProtocolError('bad-request', `source "${req.source}" must be ${expectedKind}`);
    const t = peer.media.transport(req.transportId);
    if (t.direction !== 'send') throw new ProtocolError('bad-request', 'produce needs a send transport');
    const producer = await this.produceOn(peer, t.transport, { kind: req.kind, rtpParameters: req.rtpParameters as ms.RtpParameters, source: req.source });
    return { producerId: producer.id };
  }

  /**
   * Seats `peer` (stage-full past four) and produces on `transport`, a transport
   * of the origin router: a browser's send transport or a server-side RTP ingest
   * (loadtools/). Viewers get `newProducer`.
   */
  async produceOn(peer: Peer, transport: ms.Transport, req: { kind: ms.MediaKind; rtpParameters: ms.RtpParameters; source: MediaSource }): Promise<ms.Producer> {
    const unit = peer.media;
    this.takeSlot(peer);
    let producer: ms.Producer;
    try {
      producer = await unit.produce(transport, { ...req, keyFrameRequestDelay: this.room.keyFrameRequestDelayMs, paused: req.kind === 'audio' && peer.audioLocked });
    } catch (err) {
      this.leaveIfIdle(peer);
      throw err;
    }
    // Re-checked after the await: the peer may have left, or given up its slot meanwhile.
    if (peer.closed || !peer.onStage || producer.closed) {
      if (!producer.closed) unit.closeProducer(producer.id);
      this.leaveIfIdle(peer);
      throw new ProtocolError('invalid-state', 'you left the stage while this producer was starting');
    }
    if (peer.guest) peer.guest.published = true;
    this.room.broadcast('newProducer', producerInfo(peer, producer.id, req.source, producer));
    return producer;
  }

  closeProducer(peer: Peer, { producerId }: ParsedRequestData<'closeProducer'>): void {
    peer.media.closeProducer(producerId);
    this.room.broadcast('producerClosed', { producerId, peerId: peer.id });
    this.leaveIfIdle(peer);
  }

  async setPaused(peer: Peer, producerId: string, paused: boolean): Promise<void> {
    const { producer } = peer.media.producer(producerId);
    if (!paused && producer.kind === 'audio' && peer.audioLocked) {
      throw new ProtocolError('forbidden', 'a moderator muted your microphone; it stays muted');
    }
    await peer.media.request(paused ? producer.pause() : producer.resume(), paused ? 'pauseProducer' : 'resumeProducer');
    this.room.broadcast(paused ? 'producerPaused' : 'producerResumed', { producerId, peerId: peer.id });
  }

  /** Pauses every open audio producer of `peer` (a moderator's mute); returns how many. */
  async pauseAudio(peer: Peer): Promise<number> {
    let n = 0;
    for (const { producer } of peer.producers.values()) {
      if (producer.kind === 'audio' && !producer.paused && !producer.closed) {
        await this.setPaused(peer, producer.id, true);
        n++;
      }
    }
    return n;
  }

  /** The stage peer whose open producer this is. */
  ownerOf(producerId: string): Peer | undefined {
    for (const peer of this.slots) {
      const p = peer.producers.get(producerId);
      if (p && !p.producer.closed) return peer;
    }
    return undefined;
  }

  /** The loudest stage voice changed (audio observer of the origin router): announced once per change. */
  dominantSpeaker(producerId: string | null): void {
    const peerId = producerId ? (this.ownerOf(producerId)?.id ?? null) : null;
    if (peerId === this.lastSpeaker) return;
    this.lastSpeaker = peerId;
    this.room.broadcast('activeSpeaker', { peerId });
  }

  audioLevels(levels: { producerId: string; volume: number }[]): void {
    const out: { peerId: string; volume: number }[] = [];
    for (const l of levels) {
      const owner = this.ownerOf(l.producerId);
      if (owner) out.push({ peerId: owner.id, volume: l.volume });
    }
    this.room.broadcast('audioLevels', { levels: out });
  }

  /** A producer closed with its transport (worker death, ingest stopped): the slot is kept, the client re-produces after mediaReset. */
  producerLost(peer: Peer, producerId: string): void {
    this.room.broadcast('producerClosed', { producerId, peerId: peer.id });
  }

  /** Frees `peer`'s slot, closing its producers; hosts waiting for a seat are told one is free. */
  leave(peer: Peer): void {
    if (!peer.onStage) return;
    for (const id of peer.closed ? [] : peer.media.closeProducers()) this.room.broadcast('producerClosed', { producerId: id, peerId: peer.id });
    const wasFull = this.slots.size >= MAX_PUBLISHERS;
    peer.onStage = false;
    this.slots.delete(peer);
    this.room.broadcast('publisherLeft', { peerId: peer.id });
    this.room.presenceChanged();
    // Broadcasters waiting for a seat are told (viewers see publisherLeft alone).
    if (wasFull) {
      const free = MAX_PUBLISHERS - this.slots.size;
      for (const p of this.room.hosts) if (!p.onStage && p !== peer) p.notify('seatAvailable', { free });
    }
    this.room.leftStage?.(peer);
  }

  /** Takes a slot for `peer` now, before it produces (a guest accepting an invitation); `stage-full` past four. */
  reserve(peer: Peer): void {
    this.takeSlot(peer);
  }

  private takeSlot(peer: Peer): void {
    if (peer.onStage) return;
    if (this.slots.size >= MAX_PUBLISHERS) {
      throw new ProtocolError('stage-full', `the stage already has ${MAX_PUBLISHERS} broadcasters; wait for one to leave`);
    }
    peer.onStage = true;
    this.slots.add(peer);
    this.room.broadcast('publisherJoined', { peerId: peer.id, name: peer.name, ...(peer.guest ? { guest: true } : {}) });
    this.room.presenceChanged();
  }

  /**
   * A produce still starting keeps the slot; the last producer closing (or failing) gives it
   * back. A guest that has not published yet keeps its reservation (its timer gives it back).
   */
  private leaveIfIdle(peer: Peer): void {
    if (peer.guest && !peer.guest.published && !peer.closed) return;
    if (peer.producers.size === 0 && (peer.closed || peer.media.producing === 0)) this.leave(peer);
  }
}

function producerInfo(peer: Peer, producerId: string, source: MediaSource, producer: ms.Producer): ProducerInfo {
  return { producerId, peerId: peer.id, kind: producer.kind, source, paused: producer.paused };
}

function producerInfos(peer: Peer): ProducerInfo[] {
  return [...peer.producers.values()].filter((p) => !p.producer.closed).map((p) => producerInfo(peer, p.producer.id, p.source, p.producer));
}
