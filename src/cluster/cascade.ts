import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import { z } from 'zod';
import type { Logger } from '../log.js';
import type { RoomRouter } from '../media/roomMedia.js';
import { mediaSource, type MediaSource } from '../protocol/messages.js';
import type { Peer, PeerLink } from '../rooms/peer.js';
import type { Room } from '../rooms/room.js';
import type { RoomManager } from '../rooms/roomManager.js';
import { ClusterKeys } from './keys.js';
import type { RedisConnection } from './redis.js';
import type { NodeRegistry } from './registry.js';

/**
 * The media cascade between nodes. A room's broadcasters live on its origin node (the node
 * that pinned the room in Redis when its first broadcaster arrived). Every node with the
 * room open follows the room's stage channel; the origin publishes the stage there (on
 * every change and every `snapshotMs`). Any other node with the room open (an edge) mirrors
 * it: each remote broadcaster becomes a relay peer on the edge's stage whose producers come
 * through one PipeTransport from the origin (one pipe consumer per producer per edge,
 * shared by all that edge's viewers, then the edge's own fan-out across its workers). On
 * the origin each edge is placed like a viewer: its pipe goes to the router of the
 * least-loaded worker (fed like any fan-out router), so one room's edges spread over all
 * the origin's workers instead of piling onto the broadcasters' one. An edge whose pipe's
 * worker died is told to pipe again (`repipe`).
 * Pause, resume and close travel with the stage; key frame requests travel as RTCP in the
 * pipe. An origin that stops publishing (it died) empties the edges' stages after three
 * intervals, until a broadcaster re-pins the room.
 *
 * Pipes carry plain RTP (no SRTP): run nodes on a private network.
 */
export interface CascadeOptions {
  nodeId: string;
  rooms: RoomManager;
  registry: NodeRegistry;
  /** The address this node's PipeTransports listen on and other nodes send to. */
  listenIp: string;
  announcedAddress?: string | undefined;
  log: Logger;
  /** How often an origin repeats its stage, and how an edge judges it alive (× 3). Default 2000. */
  snapshotMs?: number;
  /** How long an edge waits for the origin to answer a pipe request. Default 5000. */
  requestTimeoutMs?: number;
  keys?: ClusterKeys;
}

// Checked like any input: a malformed message (another version, anything else publishing on
// the channel) is logged and dropped, never thrown inside the subscriber.
const nodeId = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/);
const roomId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const producerSnap = z.object({ producerId: z.string().min(1).max(64), kind: z.enum(['audio', 'video']), source: mediaSource, paused: z.boolean() });
const stageSnap = z.object({
  origin: nodeId,
  publishers: z.array(z.object({ peerId: z.string().min(1).max(64), name: z.string().min(1).max(64), producers: z.array(producerSnap).max(2) })).max(8),
});
type StageSnap = z.infer<typeof stageSnap>;

const rpc = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('pipe'),
    id: z.string().max(64),
    from: nodeId,
    room: roomId,
    ip: z.string().max(64),
    port: z.number().int().min(1).max(65535),
    producerIds: z.array(z.string().max(64)).max(8),
  }),
  z.object({ type: z.literal('release'), from: nodeId, room: roomId }),
  z.object({ type: z.literal('repipe'), from: nodeId, room: roomId }),
  z.object({
    type: z.literal('piped'),
    id: z.string().max(64),
    ok: z.boolean(),
    error: z.string().optional(),
    ip: z.string().optional(),
    port: z.number().int().optional(),
    consumers: z.array(z.object({ producerId: z.string(), kind: z.enum(['audio', 'video']), rtpParameters: z.record(z.string(), z.unknown()), paused: z.boolean() })).optional(),
  }),
]);
type Rpc = z.infer<typeof rpc>;

/** The origin's pipe to one edge node. */
interface Edge {
  ip: string;
  port: number;
  transport: ms.PipeTransport;
  consumers: Map<string, ms.Consumer>;
  /** The room's router it hangs on (origin or fan-out), where it counts as one receiver. */
  router: RoomRouter;
}

const NO_LINK: PeerLink = { send: () => undefined, close: () => undefined };

export class Cascade {
  private readonly keys: ClusterKeys;
  private readonly snapshotMs: number;
  private readonly links = new Map<Room, RoomLink>();
  private readonly pending = new Map<string, { resolve: (r: Extract<Rpc, { type: 'piped' }>) => void; timer: NodeJS.Timeout }>();
  private unsubscribe: (() => void) | undefined;
  private readonly onRoom = (room: Room) => this.follow(room);

  constructor(
    readonly redis: RedisConnection,
    readonly opts: CascadeOptions,
  ) {
    this.keys = opts.keys ?? new ClusterKeys();
    this.snapshotMs = opts.snapshotMs ?? 2000;
  }

  start(): void {
    this.unsubscribe = this.redis.subscribe(this.keys.nodeRpc(this.opts.nodeId), { message: (m) => this.onRpc(m) });
    this.opts.rooms.on('room', this.onRoom);
    for (const room of this.opts.rooms.rooms.values()) this.follow(room);
  }

  async close(): Promise<void> {
    this.opts.rooms.off('room', this.onRoom);
    this.unsubscribe?.();
    for (const link of [...this.links.values()]) link.close();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  get interval(): number {
    return this.snapshotMs;
  }

  stageChannel(room: string): string {
    return this.keys.stage(room);
  }

  publish(channel: string, payload: unknown): Promise<void> {
    return this.redis.publish(channel, JSON.stringify(payload)).then(
      () => undefined,
      (err: Error) => this.opts.log.debug({ err: err.message }, 'cascade publish failed'),
    );
  }

  /** Asks `node` for pipe consumers of `producerIds`, sending to ip:port; resolves with its answer. */
  request(node: string, msg: Omit<Extract<Rpc, { type: 'pipe' }>, 'id' | 'from' | 'type'>): Promise<Extract<Rpc, { type: 'piped' }>> {
    const id = randomUUID();
    const timeoutMs = this.opts.requestTimeoutMs ?? 5000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ type: 'piped', id, ok: false, error: `origin ${node} did not answer within ${timeoutMs} ms` });
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, timer });
      void this.publish(this.keys.nodeRpc(node), { type: 'pipe', id, from: this.opts.nodeId, ...msg });
    });
  }

  release(node: string, room: string): void {
    void this.publish(this.keys.nodeRpc(node), { type: 'release', from: this.opts.nodeId, room });
  }

  /** Tells an edge its pipe from this origin is gone (the worker under it died): pipe everything again. */
  repipe(node: string, room: string): void {
    void this.publish(this.keys.nodeRpc(node), { type: 'repipe', from: this.opts.nodeId, room });
  }

  private follow(room: Room): void {
    if (this.links.has(room)) return;
    const link = new RoomLink(this, room);
    this.links.set(room, link);
    room.once('close', () => {
      this.links.delete(room);
      link.close();
    });
  }

  private onRpc(payload: string): void {
    let parsed: Rpc;
    try {
      parsed = rpc.parse(JSON.parse(payload));
    } catch {
      this.opts.log.warn({ payload: payload.slice(0, 200) }, 'unreadable cascade message ignored');
      return;
    }
    if (parsed.type === 'piped') {
      const p = this.pending.get(parsed.id);
      if (!p) return;
      clearTimeout(p.timer);
      this.pending.delete(parsed.id);
      p.resolve(parsed);
      return;
    }
    const room = this.opts.rooms.get(parsed.room);
    const link = room && this.links.get(room);
    if (parsed.type === 'release') {
      link?.releaseEdge(parsed.from);
      return;
    }
    if (parsed.type === 'repipe') {
      link?.repipe(parsed.from);
      return;
    }
    const reply = (answer: Omit<Extract<Rpc, { type: 'piped' }>, 'type' | 'id'>) => void this.publish(this.keys.nodeRpc(parsed.from), { type: 'piped', id: parsed.id, ...answer });
    if (!link) {
      reply({ ok: false, error: `room ${parsed.room} is not open on ${this.opts.nodeId}` });
      return;
    }
    link.servePipe(parsed).then(reply, (err: Error) => reply({ ok: false, error: err.message }));
  }
}

/** One room on this node: origin (publishes its stage, serves pipes) or edge (mirrors the origin's). */
class RoomLink {
  private readonly log: Logger;
  private readonly stop: () => void;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private pinned = false;
  private pinning = false;
  private publishQueued = false;
  // origin side: pipes to edges, by edge node id; each on a router of the room placed like a viewer's
  private readonly edges = new Map<string, Edge>();
  /** Pipe requests of one edge run one after the other (the edge sends them in order anyway). */
  private readonly serving = new Map<string, Promise<unknown>>();
  /** Releases per edge node: a pipe still opening when its edge let go must not be kept. */
  private readonly releases = new Map<string, number>();
  private readonly onRouterLost = (lost: RoomRouter) => this.edgesLost(lost);
  // edge side
  private origin: string | undefined;
  private lastSnapAt = 0;
  private pipe: ms.PipeTransport | undefined;
  private pipeConnected = false;
  /** The origin's end of the pipe (ip:port) once connected. */
  private pipeRemote: string | undefined;
  /** The origin's last stage, mirrored again after a `repipe`. */
  private lastSnap: StageSnap | undefined;
  /** Relayed broadcasters, by their (origin) peer id; their producers by origin producer id. */
  private readonly relays = new Map<string, { peer: Peer; producers: Map<string, ms.Producer> }>();
  private chain: Promise<void> = Promise.resolve();
  private readonly onStageChange = () => this.stageChanged();

  constructor(
    private readonly cascade: Cascade,
    private readonly room: Room,
  ) {
    this.log = cascade.opts.log.child({ room: room.id, component: 'cascade' });
    this.stop = cascade.redis.subscribe(cascade.stageChannel(room.id), { message: (m) => this.onSnapshot(m) });
    room.on('stagechange', this.onStageChange);
    room.media.on('routerlost', this.onRouterLost);
    this.timer = setInterval(() => this.tick(), cascade.interval);
    this.timer.unref();
    this.stageChanged();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.stop();
    this.room.off('stagechange', this.onStageChange);
    this.room.media.off('routerlost', this.onRouterLost);
    for (const node of [...this.edges.keys()]) this.releaseEdge(node);
    this.dropRelays();
    if (this.pinned) {
      // The edges empty their stages now rather than after three silent intervals.
      void this.cascade.publish(this.cascade.stageChannel(this.room.id), { origin: this.cascade.opts.nodeId, publishers: [] } satisfies StageSnap);
      void this.cascade.opts.registry.unpin(this.room.id).catch(() => false);
    }
  }

  /** Broadcasters of this node on stage (not relays): this node is, or wants to be, the origin. */
  private get localBroadcasters(): Peer[] {
    return this.room.stage.peers.filter((p) => !p.relay);
  }

  private stageChanged(): void {
    if (this.localBroadcasters.length > 0 && !this.pinned) void this.pin();
    if (!this.pinned || this.publishQueued) return;
    // Changes come in bursts (a join: publisherJoined, then two newProducer): one snapshot for them.
    this.publishQueued = true;
    setTimeout(() => {
      this.publishQueued = false;
      this.publishStage();
    }, 50).unref();
  }

  private async pin(): Promise<void> {
    if (this.pinning || this.closed) return;
    this.pinning = true;
    try {
      const { owner, pinned } = await this.cascade.opts.registry.pinRoom(this.room.id);
      this.pinned = pinned && !this.closed;
      if (this.pinned) {
        this.dropRelays(); // this node is the origin now: nothing to mirror
        this.publishStage();
      } else await this.sendBroadcastersTo(owner);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not pin the room (Redis unreachable); retrying with the next change');
    } finally {
      this.pinning = false;
    }
  }

  /** Broadcasters who went live here while another node holds the stage: their pages move there. */
  private async sendBroadcastersTo(owner: string): Promise<void> {
    const info = await this.cascade.opts.registry.get(owner);
    const local = this.localBroadcasters;
    this.log.warn({ origin: owner, broadcasters: local.length, moved: Boolean(info) }, 'broadcasters went live on a node that is not the room’s origin; sending them there');
    if (!info) return; // the owner just died: its pin expires, and the next attempt wins it
    for (const p of local) p.notify('stageMoved', { httpUrl: info.httpUrl });
  }

  private publishStage(): void {
    if (!this.pinned || this.closed) return;
    const snap: StageSnap = {
      origin: this.cascade.opts.nodeId,
      publishers: this.localBroadcasters.map((p) => ({
        peerId: p.id,
        name: p.name,
        producers: [...p.producers.values()]
          .filter((x) => !x.producer.closed)
          .map((x) => ({ producerId: x.producer.id, kind: x.producer.kind, source: x.source, paused: x.producer.paused })),
      })),
    };
    void this.cascade.publish(this.cascade.stageChannel(this.room.id), snap);
  }

  private tick(): void {
    if (this.pinned && !this.cascade.opts.registry.pinnedRooms.includes(this.room.id)) {
      // The pin expired while Redis was away and another node took the room: it is the origin now.
      this.log.warn('this node lost the room’s pin to another node; its broadcasters are sent there');
      this.pinned = false;
    }
    if (this.pinned) {
      this.publishStage();
      if (this.localBroadcasters.length === 0 && this.room.hosts.size === 0) {
        // No broadcaster here any more: let another node become the origin.
        this.pinned = false;
        void this.cascade.opts.registry.unpin(this.room.id).catch(() => false);
      }
      void this.dropDeadEdges();
      return;
    }
    // Broadcasters here but the stage elsewhere (or its origin gone): try again to pin.
    if (this.localBroadcasters.length > 0) void this.pin();
    if (this.origin && Date.now() - this.lastSnapAt > 3 * this.cascade.interval) {
      this.log.warn({ origin: this.origin }, 'the room’s origin node stopped answering: its broadcasters leave this node’s stage');
      this.enqueue(async () => this.dropRelays());
    }
  }

  // ---- origin side ---------------------------------------------------------------

  servePipe(req: Extract<Rpc, { type: 'pipe' }>): Promise<Omit<Extract<Rpc, { type: 'piped' }>, 'type' | 'id'>> {
    const prev = this.serving.get(req.from) ?? Promise.resolve();
    // Releases counted from now on cancel this request's pipe (one arriving right behind it).
    const released = this.releases.get(req.from) ?? 0;
    const p = prev.then(
      () => this.servePipeNow(req, released),
      () => this.servePipeNow(req, released),
    );
    this.serving.set(req.from, p);
    void p
      .finally(() => {
        if (this.serving.get(req.from) !== p) return;
        this.serving.delete(req.from);
        this.releases.delete(req.from);
      })
      .catch(() => undefined);
    return p;
  }

  private async servePipeNow(req: Extract<Rpc, { type: 'pipe' }>, released: number): Promise<Omit<Extract<Rpc, { type: 'piped' }>, 'type' | 'id'>> {
    if (!this.pinned || this.closed) return { ok: false, error: `${this.cascade.opts.nodeId} is not the origin of ${this.room.id}` };
    let edge = this.edges.get(req.from);
    if (edge && (edge.ip !== req.ip || edge.port !== req.port || edge.transport.closed)) {
      this.releaseEdge(req.from);
      edge = undefined;
    }
    if (!edge) edge = await this.openEdge(req, released);
    const consumers = [];
    for (const producerId of req.producerIds) {
      let c = edge.consumers.get(producerId);
      if (!c || c.closed) {
        const owner = this.room.stage.ownerOf(producerId);
        if (!owner || owner.relay) continue; // gone meanwhile: the next snapshot says so
        // The edge's router may be a fan-out one: the producer is piped into it first.
        await this.room.media.feed(producerId, edge.router);
        if (this.edges.get(req.from) !== edge || edge.transport.closed) throw new Error('the pipe to this edge closed meanwhile');
        c = await edge.transport.consume({ producerId });
        if (this.edges.get(req.from) !== edge) {
          c.close();
          throw new Error('the pipe to this edge closed meanwhile');
        }
        edge.consumers.set(producerId, c);
        const id = producerId;
        const map = edge.consumers;
        c.observer.once('close', () => map.delete(id));
      }
      consumers.push({ producerId, kind: c.kind, rtpParameters: c.rtpParameters as unknown as Record<string, unknown>, paused: c.producerPaused });
    }
    const t = edge.transport.tuple;
    return { ok: true, ip: t.localAddress ?? t.localIp, port: t.localPort, consumers };
  }

  /**
   * A pipe to a new edge, on the router the room's placement picks (counted there like a viewer
   * until released; placed past the packet budget: it carries the edge's whole audience).
   */
  private async openEdge(req: Extract<Rpc, { type: 'pipe' }>, released: number): Promise<Edge> {
    const router = await this.room.media.placeViewer({ priority: true });
    let transport: ms.PipeTransport | undefined;
    try {
      const { listenIp, announcedAddress } = this.cascade.opts;
      transport = await router.router.createPipeTransport({ listenInfo: { protocol: 'udp', ip: listenIp, ...(announcedAddress ? { announcedAddress } : {}) }, enableRtx: true, appData: { edge: req.from } });
      await transport.connect({ ip: req.ip, port: req.port });
      if (this.closed || router.closed || !this.pinned) throw new Error('room closed');
      if ((this.releases.get(req.from) ?? 0) !== released) throw new Error('the edge let go of the room meanwhile');
    } catch (err) {
      transport?.close();
      this.room.media.release(router);
      throw err;
    }
    router.edges++;
    const edge: Edge = { ip: req.ip, port: req.port, transport, consumers: new Map(), router };
    this.edges.set(req.from, edge);
    this.log.debug({ edge: req.from, worker: router.workerIndex }, 'pipe to an edge opened');
    return edge;
  }

  releaseEdge(node: string): void {
    if (this.serving.has(node)) this.releases.set(node, (this.releases.get(node) ?? 0) + 1);
    const edge = this.edges.get(node);
    if (!edge) return;
    this.edges.delete(node);
    edge.transport.close();
    edge.router.edges = Math.max(0, edge.router.edges - 1);
    this.room.media.release(edge.router);
  }

  /** A worker of this room died: the edges piped through it pipe again (onto a live worker). */
  private edgesLost(lost: RoomRouter): void {
    for (const [node, edge] of [...this.edges]) {
      if (edge.router !== lost) continue;
      this.releaseEdge(node);
      this.log.warn({ edge: node, worker: lost.workerIndex }, 'the worker under an edge’s pipe died; the edge pipes again');
      this.cascade.repipe(node, this.room.id);
    }
  }

  private async dropDeadEdges(): Promise<void> {
    if (this.edges.size === 0) return;
    const live = new Set((await this.cascade.opts.registry.list().catch(() => undefined))?.map((n) => n.id) ?? this.edges.keys());
    for (const node of [...this.edges.keys()]) if (!live.has(node)) this.releaseEdge(node);
  }

  // ---- edge side -----------------------------------------------------------------

  private onSnapshot(payload: string): void {
    let snap: StageSnap;
    try {
      snap = stageSnap.parse(JSON.parse(payload));
    } catch {
      this.log.warn('unreadable stage snapshot ignored');
      return;
    }
    if (snap.origin === this.cascade.opts.nodeId || this.pinned) return;
    if (this.origin && this.origin !== snap.origin) this.enqueue(async () => this.dropRelays());
    this.origin = snap.origin;
    this.lastSnap = snap;
    this.lastSnapAt = Date.now();
    this.enqueue(() => this.mirror(snap));
  }

  /**
   * The origin lost the pipe it fed this node (its worker died): the relays start over on a
   * new pipe from the origin's last stage (viewers see its broadcasters leave and come back
   * within a moment, as after any media reset).
   */
  repipe(from: string): void {
    if (this.pinned || this.origin !== from) return;
    this.enqueue(async () => {
      if (this.closed || this.origin !== from || !this.lastSnap) return;
      this.dropRelays(false);
      this.origin = from;
      await this.mirror(this.lastSnap);
    });
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err: Error) => this.log.warn({ err: err.message }, 'cascade: mirroring the origin’s stage failed; the next snapshot retries'));
  }

  /** Makes this node's stage show the origin's: relay peers joined and left, producers piped, paused, closed. */
  private async mirror(snap: StageSnap): Promise<void> {
    if (this.closed || this.pinned || this.room.closed) return;
    if (snap.publishers.length === 0) {
      // Nobody on the origin's stage: nothing to carry; the next broadcaster gets a fresh pipe.
      const origin = this.origin;
      this.dropRelays();
      this.origin = origin;
      return;
    }
    const stage = this.room.stage;
    const wanted = new Map(snap.publishers.map((p) => [p.peerId, p]));
    for (const [peerId, relay] of [...this.relays]) {
      if (!wanted.has(peerId)) {
        this.relays.delete(peerId);
        this.room.leave(relay.peer);
      }
    }
    const missing: { relay: { peer: Peer; producers: Map<string, ms.Producer> }; id: string; source: MediaSource; paused: boolean }[] = [];
    for (const pub of snap.publishers) {
      let relay = this.relays.get(pub.peerId);
      if (!relay || relay.peer.closed) {
        const joined = await this.cascade.opts.rooms.join({ roomId: this.room.id, role: 'publisher', name: pub.name, link: NO_LINK, banKeys: [], relayOf: pub.peerId });
        if (this.closed || joined.room !== this.room) {
          joined.room.leave(joined.peer);
          return;
        }
        relay = { peer: joined.peer, producers: new Map() };
        this.relays.set(pub.peerId, relay);
      }
      const want = new Map(pub.producers.map((p) => [p.producerId, p]));
      for (const [remoteId, local] of [...relay.producers]) {
        if (!want.has(remoteId) || local.closed) {
          relay.producers.delete(remoteId);
          if (!local.closed) stage.closeProducer(relay.peer, { producerId: local.id });
        }
      }
      for (const p of pub.producers) {
        const local = relay.producers.get(p.producerId);
        if (!local) missing.push({ relay, id: p.producerId, source: p.source, paused: p.paused });
        else if (local.paused !== p.paused) await stage.setPaused(relay.peer, local.id, p.paused);
      }
    }
    if (missing.length) await this.pipeIn(snap.origin, missing);
  }

  private async pipeIn(originNode: string, missing: { relay: { peer: Peer; producers: Map<string, ms.Producer> }; id: string; source: MediaSource; paused: boolean }[]): Promise<void> {
    const router = (await this.room.media.origin()).router;
    if (!this.pipe || this.pipe.closed) {
      const { listenIp, announcedAddress } = this.cascade.opts;
      this.pipe = await router.createPipeTransport({ listenInfo: { protocol: 'udp', ip: listenIp, ...(announcedAddress ? { announcedAddress } : {}) }, enableRtx: true });
      this.pipeConnected = false;
    }
    const pipe = this.pipe;
    const t = pipe.tuple;
    const answer = await this.cascade.request(originNode, { room: this.room.id, ip: t.localAddress ?? t.localIp, port: t.localPort, producerIds: missing.map((m) => m.id) });
    if (!answer.ok || answer.ip === undefined || answer.port === undefined) throw new Error(answer.error ?? 'the origin refused the pipe');
    if (pipe.closed || this.closed) return;
    const remote = `${answer.ip}:${answer.port}`;
    if (this.pipeConnected && this.pipeRemote !== remote) {
      // The origin answers from a new transport (its room was closed and opened again): this
      // pipe leads nowhere. Start over; the next snapshot pipes everything anew.
      this.log.info({ was: this.pipeRemote, now: remote }, 'the origin’s pipe changed; piping its stage again');
      const origin = this.origin;
      this.dropRelays();
      this.origin = origin;
      return;
    }
    if (!this.pipeConnected) {
      await pipe.connect({ ip: answer.ip, port: answer.port });
      this.pipeConnected = true;
      this.pipeRemote = remote;
    }
    for (const c of answer.consumers ?? []) {
      const m = missing.find((x) => x.id === c.producerId);
      if (!m || m.relay.peer.closed || m.relay.producers.has(c.producerId)) continue;
      const producer = await this.room.stage.produceOn(m.relay.peer, pipe, { kind: c.kind, rtpParameters: c.rtpParameters as unknown as ms.RtpParameters, source: m.source });
      m.relay.producers.set(c.producerId, producer);
      if (c.paused) await this.room.stage.setPaused(m.relay.peer, producer.id, true);
    }
  }

  /** Empties this node's mirror of the stage; `release` tells the origin to drop its end of the pipe. */
  private dropRelays(release = true): void {
    for (const relay of this.relays.values()) this.room.leave(relay.peer);
    this.relays.clear();
    if (this.pipe && !this.pipe.closed) this.pipe.close();
    this.pipe = undefined;
    this.pipeConnected = false;
    this.pipeRemote = undefined;
    if (this.origin && release) this.cascade.release(this.origin, this.room.id);
    this.origin = undefined;
  }
}
