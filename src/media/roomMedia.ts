import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../log.js';
import { mediaCodecs } from './codecs.js';
import { ProtocolError } from '../protocol/messages.js';
import { PeerMedia, type PeerLimit } from './peerMedia.js';
import { MEDIA_REQUEST_TIMEOUT_MS, withTimeout } from './timeout.js';
import type { MediaWorker, WorkerPool } from './workerPool.js';

export interface RoomMediaOptions {
  pool: WorkerPool;
  log: Logger;
  /** Viewers one router takes before the next viewer goes to another worker's router. */
  maxViewersPerRouter: number;
  /** Longest wait for one mediasoup request (ms). Default MEDIA_REQUEST_TIMEOUT_MS. */
  requestTimeoutMs?: number;
  /** WebRTC transports one participant may hold (MAX_TRANSPORTS_PER_PEER). Default 4. */
  maxTransportsPerPeer?: number;
  /** Producers one participant may hold (MAX_PRODUCERS_PER_PEER). Default 2: a camera and a microphone. */
  maxProducersPerPeer?: number;
  /** Consumers one participant may hold (MAX_CONSUMERS_PER_PEER). Default 16: a full stage is 4 × 2. */
  maxConsumersPerPeer?: number;
  /** A per-participant cap refused a request (metrics). */
  onLimitRefused?: (limit: PeerLimit) => void;
  /**
   * Everyone receives from the origin router itself, never a fan-out router (a private call of
   * two: a second worker would only add a pipe). The packet budget still applies. Default false.
   */
  receiveOnOrigin?: boolean;
  /** Active speaker and audio level observers on the origin (the stage's speaking indicator). Default true. */
  observers?: boolean;
}

/**
 * Local pipe transports (origin → fan-out router on another worker). One pipe
 * socket carries every producer of the room, so a key frame from each of four
 * broadcasters arrives as one burst; the kernel's default receive buffer
 * (~200 KB, ~90 packets) overflowed under load in bench/media/capacity.ts, and
 * a datagram lost there is lost for every viewer of that router (2 workers, 4
 * publishers: 2.5 % loss on the fan-out router's viewers at 1,200 consumers with
 * the default, none up to 1,552 with 1 MiB). Not more: under sustained overload
 * a bigger buffer only queues seconds of stale media. The kernel caps the size
 * at net.core.rmem_max / wmem_max (208 KiB on a stock kernel: raise them on
 * media nodes). Same address as mediasoup's default.
 */
const PIPE_LISTEN: ms.TransportListenInfo = { protocol: 'udp', ip: '127.0.0.1', recvBufferSize: 1024 * 1024, sendBufferSize: 1024 * 1024 };

/** One of a room's routers: the origin (publishers send here) or a fan-out fed by pipeToRouter. */
export class RoomRouter {
  /** Peers placed on this router to receive media (edge nodes' pipes included: each counts as one). */
  viewers = 0;
  /** Of those, pipes to edge nodes of the cluster (set by the cascade). */
  edges = 0;
  /**
   * Producers piped (or being piped) into this router, by producer id: pipeToRouter must run
   * once per pair, and a consume waits for it. A failed pipe leaves the map, so the next
   * consume of that producer tries again.
   */
  readonly piped = new Map<string, Promise<void>>();
  constructor(
    readonly router: ms.Router,
    readonly worker: MediaWorker,
  ) {}

  get workerIndex(): number {
    return this.worker.index;
  }

  get closed(): boolean {
    return this.router.closed;
  }
}

interface RoomMediaEvents {
  /** A router's worker died; its transports are gone. `wasOrigin` means every producer went with it. */
  routerlost: [lost: RoomRouter, wasOrigin: boolean];
  dominantspeaker: [producerId: string | null];
  volumes: [levels: { producerId: string; volume: number }[]];
}

/**
 * The media side of one room. Publishers send to the origin router; viewers
 * are placed on routers of the least-loaded workers (at most one router of
 * this room per worker: mediasoup 3.15 cannot pipe within a worker), and each
 * fan-out router receives every producer of the room through pipeToRouter.
 */
export class RoomMedia extends EventEmitter<RoomMediaEvents> {
  private originRouter: RoomRouter | undefined;
  /** Created on the first `origin()` (a broadcaster's transport or produce, or a receiver): an idle room costs no router. */
  private originReady: Promise<RoomRouter> | undefined;
  private readonly routers = new Map<number, RoomRouter>();
  /** Fan-out routers being created, so concurrent joins share one per worker. */
  private readonly creating = new Map<number, Promise<RoomRouter>>();
  private readonly producers = new Map<string, ms.Producer>();
  private speakerObserver: ms.ActiveSpeakerObserver | undefined;
  private levelObserver: ms.AudioLevelObserver | undefined;
  /** The media units of the room's participants (closed with the room). */
  private readonly units = new Set<PeerMedia>();
  /** The last origin attempt failed (a worker did not answer): the next caller tries again. */
  private originFailed = false;
  private closedFlag = false;

  constructor(private readonly opts: RoomMediaOptions) {
    super();
  }

  private get timeoutMs(): number {
    return this.opts.requestTimeoutMs ?? MEDIA_REQUEST_TIMEOUT_MS;
  }

  /** A media unit for one participant, owned by this room's media. */
  createPeerMedia(peerId: string): PeerMedia {
    if (this.closedFlag) throw new Error('room media is closed');
    const o = this.opts;
    const limits = { maxTransports: o.maxTransportsPerPeer ?? 4, maxProducers: o.maxProducersPerPeer ?? 2, maxConsumers: o.maxConsumersPerPeer ?? 16 };
    const unit = new PeerMedia(this, peerId, { ...limits, requestTimeoutMs: this.timeoutMs, ...(o.onLimitRefused ? { onLimitRefused: o.onLimitRefused } : {}) }, (u) => this.units.delete(u));
    this.units.add(unit);
    return unit;
  }

  /** Participants' media units still open (tests, leak checks). */
  get unitCount(): number {
    return this.units.size;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * The origin router, created by the first caller (and again after its worker died or an
   * attempt failed). Refused with `server-busy` when no worker may take a new router.
   */
  origin(): Promise<RoomRouter> {
    if (this.closedFlag) return this.originReady ?? Promise.reject(new ProtocolError('invalid-state', 'room is closing; join again'));
    if (!this.originReady || this.originFailed) this.originReady = this.startOrigin();
    return this.originReady;
  }

  /** Whether the room has an origin router (or one being created): false until a broadcaster or receiver needs it. */
  get hasOrigin(): boolean {
    return this.originReady !== undefined && !this.originFailed;
  }

  /** The capabilities of the room's routers: the pool's (every router shares the codec list), so asking creates nothing. */
  get rtpCapabilities(): Promise<ms.RtpCapabilities> {
    return Promise.resolve(this.opts.pool.rtpCapabilities);
  }

  /** Routers of this room, origin included. */
  all(): RoomRouter[] {
    return [...this.routers.values()];
  }

  /** The open routers as admin and metrics see them (no await: a re-created origin shows once it is ready). */
  describeRouters(): { worker: number; viewers: number; edges: number; origin: boolean }[] {
    return this.all()
      .filter((rr) => !rr.closed)
      .map((rr) => ({ worker: rr.workerIndex, viewers: rr.viewers - rr.edges, edges: rr.edges, origin: rr === this.originRouter }));
  }

  /**
   * Places one more receiving peer: the least-loaded worker whose router for
   * this room has room left, creating (and feeding) a fan-out router there if
   * needed. Call `release` when the peer leaves.
   *
   * Each placement reserves a full stage's packet rate on its worker; a worker whose budget
   * is spent takes no one new, and a node with none left refuses with `server-busy`.
   * `priority`: placed past the budget rather than refused (the CPU headroom still holds). For
   * a broadcaster watching its co-hosts (at most a stage's worth per room: a full node never
   * keeps a show from going on) and an edge node's pipe (one per node of the cluster, carrying
   * that node's whole audience, which a local viewer must not be able to shut out).
   */
  async placeViewer({ priority = false }: { priority?: boolean } = {}): Promise<RoomRouter> {
    await this.origin();
    const pool = this.opts.pool;
    const cap = this.opts.maxViewersPerRouter;
    // The budget is checked again, synchronously with the reservation, after every await.
    const fits = (rr: RoomRouter) => !rr.closed && (priority || pool.hasRoomFor(rr.worker));
    if (this.opts.receiveOnOrigin) {
      const origin = await this.origin();
      if (!fits(origin)) throw pool.busy();
      return this.reserve(origin);
    }
    // Workers past their CPU headroom or packet budget, or not answering, take no new viewers.
    const workers = pool.byLoad({ overBudget: priority });
    if (workers.length === 0) throw pool.busy();
    for (const worker of workers) {
      const existing = this.routers.get(worker.index);
      if (existing && existing.viewers >= cap) continue;
      const rr = existing ?? (await this.fanOut(worker));
      // Re-checked after the await: concurrent placements share a fan-out router being created.
      if (!fits(rr) || rr.viewers >= cap) continue;
      return this.reserve(rr);
    }
    // Every router on a worker with headroom is at its cap: overflow onto the least busy of those rather than refuse.
    const open = new Set(workers.map((w) => w.index));
    const rr = this.all()
      .filter((r) => fits(r) && open.has(r.workerIndex))
      .sort((a, b) => a.viewers - b.viewers)[0];
    if (!rr) throw pool.busy();
    return this.reserve(rr);
  }

  /** Places a receiving peer on the origin router itself, bypassing fan-out and the packet budget (load probes). Call `release` when it leaves. */
  async placeOnOrigin(): Promise<RoomRouter> {
    return this.reserve(await this.origin());
  }

  private reserve(rr: RoomRouter): RoomRouter {
    rr.viewers++;
    rr.worker.viewers++;
    return rr;
  }

  release(rr: RoomRouter): void {
    if (rr.viewers === 0) return;
    rr.viewers--;
    rr.worker.viewers = Math.max(0, rr.worker.viewers - 1);
  }

  /** Registers a producer created on the origin router and feeds it to every fan-out router. */
  async addProducer(producer: ms.Producer): Promise<void> {
    const origin = await this.origin();
    this.producers.set(producer.id, producer);
    producer.observer.once('close', () => this.producers.delete(producer.id));
    if (producer.kind === 'audio') {
      await Promise.all([
        this.speakerObserver && this.timed(this.speakerObserver.addProducer({ producerId: producer.id }), 'addProducer (speaker)').catch(() => undefined),
        this.levelObserver && this.timed(this.levelObserver.addProducer({ producerId: producer.id }), 'addProducer (levels)').catch(() => undefined),
      ]);
    }
    // A fan-out router that cannot take it now (its worker too slow) does not fail the
    // broadcaster: its viewers' consumes pipe it again (feed).
    await Promise.all(this.all().filter((rr) => rr !== origin && !rr.closed).map((rr) => this.pipe(producer, origin, rr).catch((err: Error) => this.pipeFailed(rr, err))));
  }

  private pipeFailed(rr: RoomRouter, err: Error): void {
    this.opts.log.warn({ worker: rr.workerIndex, err: err.message }, 'pipe to a fan-out router failed; its viewers pipe again when they consume');
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const unit of [...this.units]) unit.roomClosed();
    this.units.clear();
    for (const rr of this.routers.values()) rr.router.close();
    this.routers.clear();
  }

  /**
   * Makes sure `producerId` reaches `target`, the router a consumer of it will be created on:
   * nothing to do on the origin; on a fan-out router, waits for its pipe, or pipes it again
   * when an earlier attempt failed (a worker too slow to answer in time).
   */
  async feed(producerId: string, target: RoomRouter): Promise<void> {
    const origin = this.originRouter;
    if (!origin || target === origin) return;
    const producer = this.producers.get(producerId);
    if (!producer) throw new ProtocolError('not-found', `no producer ${producerId} in this room`);
    await this.pipe(producer, origin, target);
  }

  private pipe(producer: ms.Producer, origin: RoomRouter, target: RoomRouter): Promise<void> {
    if (producer.closed || target.closed || origin.closed) return Promise.resolve();
    const known = target.piped.get(producer.id);
    if (known) return known;
    const p: Promise<void> = this.timed(origin.router.pipeToRouter({ producerId: producer.id, router: target.router, listenInfo: PIPE_LISTEN }), 'pipeToRouter', (r) => {
      r.pipeConsumer?.close();
      r.pipeProducer?.close();
    }).then(
      () => undefined,
      (err: unknown) => {
        if (target.piped.get(producer.id) === p) target.piped.delete(producer.id);
        // The producer or a router closed meanwhile: nothing to feed.
        if (!producer.closed && !target.closed && !origin.closed) throw err;
      },
    );
    target.piped.set(producer.id, p);
    producer.observer.once('close', () => target.piped.delete(producer.id));
    return p;
  }

  private startOrigin(): Promise<RoomRouter> {
    this.originFailed = false;
    const p = this.createOrigin();
    p.catch(() => {
      if (this.originReady === p) this.originFailed = true;
    });
    return p;
  }

  private async createOrigin(): Promise<RoomRouter> {
    // Promote a surviving fan-out router when there is one: its viewers keep their transports.
    const survivor = this.all()
      .filter((rr) => !rr.closed)
      .sort((a, b) => a.worker.load - b.worker.load)[0];
    const rr = survivor ?? (await this.createRouter(await this.opts.pool.placement(this.timeoutMs)));
    this.originRouter = rr;
    if (this.opts.observers !== false) await this.attachObservers(rr);
    return rr;
  }

  private async createRouter(worker: MediaWorker): Promise<RoomRouter> {
    const router = await this.timed(worker.worker.createRouter({ mediaCodecs }), 'createRouter', (r) => r.close());
    const rr = new RoomRouter(router, worker);
    this.routers.set(worker.index, rr);
    router.on('workerclose', () => this.onRouterLost(rr));
    if (this.closedFlag) router.close();
    return rr;
  }

  private fanOut(worker: MediaWorker): Promise<RoomRouter> {
    const pending = this.creating.get(worker.index);
    if (pending) return pending;
    const p = (async () => {
      const origin = await this.origin();
      const rr = await this.createRouter(worker);
      await Promise.all([...this.producers.values()].map((p) => this.pipe(p, origin, rr).catch((err: Error) => this.pipeFailed(rr, err))));
      this.opts.log.debug({ worker: worker.index }, 'fan-out router ready');
      return rr;
    })().finally(() => this.creating.delete(worker.index));
    this.creating.set(worker.index, p);
    return p;
  }

  private async attachObservers(rr: RoomRouter): Promise<void> {
    this.speakerObserver = await this.timed(rr.router.createActiveSpeakerObserver({ interval: 300 }), 'createActiveSpeakerObserver', (o) => o.close());
    this.speakerObserver.on('dominantspeaker', ({ producer }) => this.emit('dominantspeaker', producer.id));
    this.levelObserver = await this.timed(rr.router.createAudioLevelObserver({ maxEntries: 4, threshold: -70, interval: 800 }), 'createAudioLevelObserver', (o) => o.close());
    this.levelObserver.on('volumes', (vols) => this.emit('volumes', vols.map((v) => ({ producerId: v.producer.id, volume: v.volume }))));
    this.levelObserver.on('silence', () => this.emit('volumes', []));
  }

  private onRouterLost(rr: RoomRouter): void {
    if (this.routers.get(rr.workerIndex) === rr) this.routers.delete(rr.workerIndex);
    if (this.closedFlag) return;
    const wasOrigin = rr === this.originRouter;
    this.opts.log.warn({ worker: rr.workerIndex, wasOrigin }, 'room lost a router with its worker');
    if (wasOrigin) {
      this.producers.clear();
      this.emit('dominantspeaker', null);
      // Re-created (or a surviving fan-out router promoted) by the next `origin()`: the
      // broadcasters' new transports after their media reset, or the next receiver.
      this.originReady = undefined;
      this.originRouter = undefined;
      this.speakerObserver = undefined;
      this.levelObserver = undefined;
    }
    this.emit('routerlost', rr, wasOrigin);
  }

  private timed<T>(promise: Promise<T>, what: string, onLate?: (value: T) => void): Promise<T> {
    return withTimeout(promise, this.timeoutMs, what, onLate);
  }
}
