import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import { ProtocolError, type MediaSource } from '../protocol/messages.js';
import type { RoomMedia, RoomRouter } from './roomMedia.js';
import { withTimeout } from './timeout.js';

export interface PeerTransport {
  transport: ms.WebRtcTransport;
  rr: RoomRouter;
  direction: 'send' | 'recv';
}

export interface PeerProducer {
  producer: ms.Producer;
  source: MediaSource;
}

/** The per-participant caps, as counted in fourcast_limit_refusals_total. */
export type PeerLimit = 'transports-per-peer' | 'producers-per-peer' | 'consumers-per-peer';

export interface PeerMediaOptions {
  /** WebRTC transports one participant may hold (open or being created). */
  maxTransports: number;
  /** Producers one participant may hold (open or being created), whatever their sources. */
  maxProducers: number;
  /** Consumers one participant may hold (open or being created). */
  maxConsumers: number;
  /** Longest wait for one mediasoup request (ms). */
  requestTimeoutMs: number;
  /** A cap refused a request (metrics). */
  onLimitRefused?: (limit: PeerLimit) => void;
}

interface PeerMediaEvents {
  /** A producer closed because its transport closed (worker death, ingest stopped); not emitted once the unit is closed. */
  producerlost: [producerId: string, source: MediaSource];
}

const left = () => new ProtocolError('invalid-state', 'you left the room while this request was running');

/**
 * The mediasoup objects of one participant: its WebRTC transports, producers
 * and consumers, owned privately as in mediasoup's own tree. Every create
 * reserves its place (a counted reservation) before its first await and
 * re-checks, after each await, that the unit and the transport are still open;
 * if not, it closes what it created and throws, so nothing outlives its owner.
 * `close()` (the participant left) closes everything beneath it;
 * `roomClosed()` is the parent-closed path (the routers are closing anyway).
 */
export class PeerMedia extends EventEmitter<PeerMediaEvents> {
  private readonly transportMap = new Map<string, PeerTransport>();
  private readonly producerMap = new Map<string, PeerProducer>();
  private readonly consumerMap = new Map<string, ms.Consumer>();
  /** Reservations: creates in flight, counted against the caps. */
  private transportsPending = 0;
  private readonly sourcesPending = new Set<MediaSource>();
  private readonly consumesPending = new Set<string>();
  private recvRouterRef: RoomRouter | undefined;
  private recvPlacing: Promise<RoomRouter> | undefined;
  /** A transport of this unit died with its worker: a media reset is due. */
  private lost = false;
  private closedFlag = false;

  constructor(
    private readonly room: RoomMedia,
    readonly peerId: string,
    private readonly opts: PeerMediaOptions,
    private readonly onClose: (unit: PeerMedia) => void,
  ) {
    super();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get transports(): ReadonlyMap<string, PeerTransport> {
    return this.transportMap;
  }

  get producers(): ReadonlyMap<string, PeerProducer> {
    return this.producerMap;
  }

  get consumers(): ReadonlyMap<string, ms.Consumer> {
    return this.consumerMap;
  }

  /** The router this participant receives from (placed with its first recv transport). */
  get recvRouter(): RoomRouter | undefined {
    return this.recvRouterRef;
  }

  // ---- transports --------------------------------------------------------------

  /** `stage`: a receive transport of a broadcaster (placed past the packet budget, see RoomMedia.placeViewer). */
  async createTransport(direction: 'send' | 'recv', { stage = false }: { stage?: boolean } = {}): Promise<ms.WebRtcTransport> {
    this.assertOpen();
    const max = this.opts.maxTransports;
    if (this.transportMap.size + this.transportsPending >= max) {
      throw this.refuse('transports-per-peer', `at most ${max} transports per participant; close one first`);
    }
    this.transportsPending++;
    try {
      const rr = direction === 'send' ? await this.room.origin() : await this.receiveRouter(stage);
      this.assertOpen();
      const transport = await this.timed(
        rr.router.createWebRtcTransport({
          webRtcServer: rr.worker.webRtcServer,
          enableUdp: true,
          enableTcp: true,
          preferUdp: true,
          initialAvailableOutgoingBitrate: 1_000_000,
          appData: { peerId: this.peerId, direction },
        }),
        'createWebRtcTransport',
        (t) => t.close(),
      );
      if (this.closedFlag || transport.closed) {
        transport.close();
        throw left();
      }
      this.transportMap.set(transport.id, { transport, rr, direction });
      transport.observer.once('close', () => this.transportMap.delete(transport.id));
      // mediasoup closes a dead worker's transports before the router reports the loss: remember it.
      transport.on('routerclose', () => (this.lost = true));
      if (direction === 'send') await this.timed(transport.setMaxIncomingBitrate(4_000_000), 'setMaxIncomingBitrate').catch(() => undefined);
      if (this.closedFlag || transport.closed) throw left();
      return transport;
    } finally {
      this.transportsPending--;
    }
  }

  transport(transportId: string): PeerTransport {
    const t = this.transportMap.get(transportId);
    if (!t) throw new ProtocolError('not-found', `no transport ${transportId} of yours`);
    return t;
  }

  async connect(transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    const { transport } = this.transport(transportId);
    await this.timed(mediasoupCall(() => transport.connect({ dtlsParameters })), 'connect');
  }

  async restartIce(transportId: string): Promise<ms.IceParameters> {
    const { transport } = this.transport(transportId);
    return this.timed(transport.restartIce(), 'restartIce');
  }

  // ---- producers ---------------------------------------------------------------

  /**
   * Produces on `transport` (one of this unit's send transports, or a server-side
   * RTP ingest transport on the origin router) and feeds the room's fan-out
   * routers. One producer per source, held from the first await.
   */
  async produce(
    transport: ms.Transport,
    req: { kind: ms.MediaKind; rtpParameters: ms.RtpParameters; source: MediaSource; keyFrameRequestDelay: number; paused?: boolean },
  ): Promise<ms.Producer> {
    this.assertOpen();
    const { source } = req;
    if (this.sourcesPending.has(source) || [...this.producerMap.values()].some((p) => p.source === source)) {
      throw new ProtocolError('invalid-state', `you already publish a ${source}; close it first`);
    }
    const max = this.opts.maxProducers;
    if (this.producerMap.size + this.sourcesPending.size >= max) {
      throw this.refuse('producers-per-peer', `at most ${max} producers per participant; close one first`);
    }
    this.sourcesPending.add(source);
    try {
      const producer = await this.timed(
        mediasoupCall(() =>
          transport.produce({
            kind: req.kind,
            rtpParameters: req.rtpParameters,
            keyFrameRequestDelay: req.keyFrameRequestDelay,
            appData: { peerId: this.peerId, source },
          }),
        ),
        'produce',
        (p) => p.close(),
      );
      if (this.closedFlag || transport.closed || producer.closed) {
        producer.close();
        throw left();
      }
      this.producerMap.set(producer.id, { producer, source });
      producer.observer.once('close', () => this.producerMap.delete(producer.id));
      // Worker death or a stopped ingest closes the transport: the room tells viewers.
      producer.on('transportclose', () => {
        this.producerMap.delete(producer.id);
        if (!this.closedFlag) this.emit('producerlost', producer.id, source);
      });
      if (req.paused) await this.timed(producer.pause(), 'pauseProducer');
      await this.room.addProducer(producer).catch((err: unknown) => {
        // Not announced to anyone: it must not linger and hold the source.
        producer.close();
        throw err;
      });
      if (this.closedFlag || producer.closed) {
        producer.close();
        throw new ProtocolError('invalid-state', 'the producer closed while starting; produce again');
      }
      return producer;
    } finally {
      this.sourcesPending.delete(source);
    }
  }

  /** Produce requests in flight. */
  get producing(): number {
    return this.sourcesPending.size;
  }

  producer(producerId: string): PeerProducer {
    const p = this.producerMap.get(producerId);
    if (!p) throw new ProtocolError('not-found', `no producer ${producerId} of yours`);
    return p;
  }

  /** Closes one producer (the client asked); no `producerlost` event. */
  closeProducer(producerId: string): void {
    const { producer } = this.producer(producerId);
    this.producerMap.delete(producerId);
    producer.close();
  }

  /** Closes every producer and returns their ids (the participant leaves the stage). */
  closeProducers(): string[] {
    const ids = [...this.producerMap.keys()];
    for (const { producer } of [...this.producerMap.values()]) producer.close();
    this.producerMap.clear();
    return ids;
  }

  // ---- consumers ---------------------------------------------------------------

  /**
   * Consumes `producerId` on this unit's recv transport: one consumer per producer, held from the first await.
   * `mid`: the receiver's media section for it (WHEP answers name their sections; browsers get a new one per consumer).
   */
  async consume(producerId: string, rtpCapabilities: ms.RtpCapabilities, { mid }: { mid?: string } = {}): Promise<ms.Consumer> {
    this.assertOpen();
    const recv = [...this.transportMap.values()].find((t) => t.direction === 'recv');
    if (!recv) throw new ProtocolError('invalid-state', 'create a recv transport before consume');
    if (this.consumesPending.has(producerId) || [...this.consumerMap.values()].some((c) => c.producerId === producerId && !c.closed)) {
      throw new ProtocolError('invalid-state', `already consuming ${producerId}`);
    }
    const max = this.opts.maxConsumers;
    if (this.consumerMap.size + this.consumesPending.size >= max) {
      throw this.refuse('consumers-per-peer', `at most ${max} consumers per participant; close one first`);
    }
    this.consumesPending.add(producerId);
    try {
      // On a fan-out router the producer arrives through a pipe: wait for it (or pipe it again).
      await this.room.feed(producerId, recv.rr);
      if (this.closedFlag || recv.transport.closed) throw left();
      if (!recv.rr.router.canConsume({ producerId, rtpCapabilities })) {
        throw new ProtocolError('bad-request', 'your device cannot receive this producer (codec mismatch)');
      }
      const consumer = await this.timed(
        mediasoupCall(() => recv.transport.consume({ producerId, rtpCapabilities, paused: true, ...(mid === undefined ? {} : { mid }), appData: { peerId: this.peerId } })),
        'consume',
        (c) => c.close(),
      );
      if (this.closedFlag || recv.transport.closed || consumer.closed) {
        consumer.close();
        throw left();
      }
      this.consumerMap.set(consumer.id, consumer);
      consumer.observer.once('close', () => this.consumerMap.delete(consumer.id));
      return consumer;
    } finally {
      this.consumesPending.delete(producerId);
    }
  }

  consumer(consumerId: string): ms.Consumer {
    const c = this.consumerMap.get(consumerId);
    if (!c) throw new ProtocolError('not-found', `no consumer ${consumerId} of yours`);
    return c;
  }

  /** Runs one mediasoup request with this unit's timeout (pause, resume, layers, key frames). */
  request<T>(promise: Promise<T>, what: string): Promise<T> {
    return this.timed(promise, what);
  }

  // ---- worker loss and closing -------------------------------------------------

  /** Whether losing `rr` (its worker died) took media of this unit with it. */
  affectedBy(rr: RoomRouter): boolean {
    return this.lost || this.recvRouterRef === rr || [...this.transportMap.values()].some((t) => t.rr === rr);
  }

  /** Drops every transport (and so every producer and consumer) and the placement: the client rebuilds its media. */
  reset(): void {
    this.lost = false;
    this.releaseRecvRouter();
    for (const { transport } of [...this.transportMap.values()]) transport.close();
    this.transportMap.clear();
    this.producerMap.clear();
    this.consumerMap.clear();
  }

  /** The participant left: closes its transports (with their producers and consumers). Idempotent. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.reset();
    this.onClose(this);
  }

  /** The room's media closed its routers, which closes everything beneath: only forget it. */
  roomClosed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.recvRouterRef = undefined;
    this.transportMap.clear();
    this.producerMap.clear();
    this.consumerMap.clear();
  }

  private receiveRouter(stage: boolean): Promise<RoomRouter> {
    if (this.recvRouterRef && !this.recvRouterRef.closed) return Promise.resolve(this.recvRouterRef);
    // Concurrent recv transports share one placement, so the router's viewer count is taken once.
    this.recvPlacing ??= this.room
      .placeViewer({ priority: stage })
      .then((rr) => {
        if (this.closedFlag) {
          this.room.release(rr);
          throw left();
        }
        this.recvRouterRef = rr;
        return rr;
      })
      .finally(() => (this.recvPlacing = undefined));
    return this.recvPlacing;
  }

  private releaseRecvRouter(): void {
    if (this.recvRouterRef) this.room.release(this.recvRouterRef);
    this.recvRouterRef = undefined;
  }

  private assertOpen(): void {
    if (this.closedFlag) throw left();
  }

  private refuse(limit: PeerLimit, message: string): ProtocolError {
    this.opts.onLimitRefused?.(limit);
    return new ProtocolError('invalid-state', message);
  }

  private timed<T>(promise: Promise<T>, what: string, onLate?: (value: T) => void): Promise<T> {
    return withTimeout(promise, this.opts.requestTimeoutMs, what, onLate);
  }
}

/** mediasoup throws TypeError for invalid parameters: that is the client's fault, not ours. */
export async function mediasoupCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof TypeError || (err as Error)?.name === 'UnsupportedError') {
      throw new ProtocolError('bad-request', (err as Error).message);
    }
    throw err;
  }
}
