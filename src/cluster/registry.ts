import { EventEmitter } from 'node:events';
import { ClusterKeys, checkNodeId } from './keys.js';
import { LuaScript, type RedisConnection } from './redis.js';

/** What a node tells the cluster about itself. */
export interface NodeInfo {
  id: string;
  /** Where browsers open the signaling WebSocket, e.g. `wss://node-a.example.com/ws`. */
  wsUrl: string;
  /** The node's HTTP base URL (client config, admin, health). */
  httpUrl: string;
  /** The address other nodes' PipeTransports send media to. */
  mediaAddress: string;
  /** Placement load (e.g. viewers); higher is busier. Read from `options.load` at each heartbeat. */
  load: number;
  /** When the node started (ms since the epoch). */
  startedAt: number;
  /** The rooms open on the node at its last heartbeat, busiest first (at most MAX_LISTED_ROOMS). */
  rooms: NodeRoom[];
  /** Rooms open on the node beyond those listed. */
  roomsNotListed: number;
}

/** One room as a node reports it: its part of the room. */
export interface NodeRoom {
  id: string;
  peers: number;
  viewers: number;
  publishers: number;
}

/** Rooms a heartbeat lists: enough for an operator's view, bounded so a beat stays small. */
export const MAX_LISTED_ROOMS = 200;

export interface NodeRegistryOptions {
  /** Time between heartbeats (ms). Default 2000. */
  heartbeatMs?: number;
  /**
   * How long a node stays listed after its last heartbeat (ms), and how long its room pins
   * last. Default 3 × heartbeatMs: one lost beat is tolerated, a stopped node is gone
   * within three.
   */
  ttlMs?: number;
  /** The node's current load, read at each heartbeat. Default 0. */
  load?: () => number;
  /** The node's open rooms, read at each heartbeat. Default none. */
  rooms?: () => NodeRoom[];
  keys?: ClusterKeys;
}

export interface NodeRegistryEvents {
  /** A heartbeat failed (Redis away or slow); the next one retries. */
  heartbeatFailed: [error: Error];
  /**
   * A room pinned here is now recorded on another node (this node's pin expired while it
   * could not reach Redis, and another node pinned the room). Its broadcasters belong there.
   */
  pinLost: [room: string, owner: string];
}

// Registration and the index in one step, so list() never sees a half-registered node.
const HEARTBEAT = new LuaScript(
  `redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return 1`,
  2,
);

// Live nodes; ids whose key expired leave the index in the same step (no race with a beat).
const LIST = new LuaScript(
  `local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. id)
  if v then table.insert(out, v) else redis.call('SREM', KEYS[1], id) end
end
return out`,
  1,
);

// SET NX, or refresh our own pin; returns the owner either way.
const PIN = new LuaScript(
  `local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return cur`,
  1,
);

// Compare-and-delete: only the owner removes its pin.
const UNPIN = new LuaScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  1,
);

const DEREGISTER = new LuaScript(
  `redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1`,
  2,
);

/**
 * This node's entry in the cluster's node list, kept alive by a heartbeat, and the rooms
 * pinned to it (a room's origin: where its broadcasters are). A node that stops beating
 * (crash, kill -9, network cut) drops out of `list()` and loses its pins within `ttlMs`.
 *
 * Redis away: beats fail (`heartbeatFailed`) and the node keeps serving; the first beat
 * after Redis returns registers it again and re-pins its rooms (a room pinned elsewhere
 * meanwhile raises `pinLost`).
 */
export class NodeRegistry extends EventEmitter<NodeRegistryEvents> {
  readonly heartbeatMs: number;
  readonly ttlMs: number;
  private readonly keys: ClusterKeys;
  private readonly load: () => number;
  private readonly rooms: () => NodeRoom[];
  private readonly pinned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private closedValue = false;
  private readonly onConnected = () => void this.beat();

  constructor(
    private readonly redis: RedisConnection,
    readonly self: Omit<NodeInfo, 'load' | 'rooms' | 'roomsNotListed'>,
    opts: NodeRegistryOptions = {},
  ) {
    super();
    checkNodeId(self.id);
    this.heartbeatMs = opts.heartbeatMs ?? 2000;
    this.ttlMs = opts.ttlMs ?? 3 * this.heartbeatMs;
    if (!(this.heartbeatMs > 0) || !(this.ttlMs > this.heartbeatMs)) throw new Error(`heartbeatMs (${this.heartbeatMs}) must be > 0 and ttlMs (${this.ttlMs}) larger than it`);
    this.keys = opts.keys ?? new ClusterKeys();
    this.load = opts.load ?? (() => 0);
    this.rooms = opts.rooms ?? (() => []);
  }

  get closed(): boolean {
    return this.closedValue;
  }

  /** Rooms this node holds pins for (as far as it knows). */
  get pinnedRooms(): string[] {
    return [...this.pinned];
  }

  /**
   * Registers the node and starts the heartbeat. Resolves after the first beat was tried;
   * rejects only when that beat failed (the heartbeat keeps trying either way).
   */
  async start(): Promise<void> {
    if (this.closedValue) throw new Error('the registry is closed');
    if (this.timer) return;
    this.timer = setInterval(() => void this.beat(), this.heartbeatMs);
    this.timer.unref();
    // Redis back after an outage (maybe empty): register again without waiting for the next tick.
    this.redis.on('connected', this.onConnected);
    await this.beatOnce();
  }

  /** One heartbeat now: the node entry and every pin are refreshed. Failures are reported as `heartbeatFailed`. */
  async beat(): Promise<void> {
    try {
      await this.beatOnce();
    } catch (err) {
      this.emit('heartbeatFailed', err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Live nodes (those whose last heartbeat is younger than their ttl), sorted by id. */
  async list(): Promise<NodeInfo[]> {
    const raw = (await LIST.run(this.redis.client, [this.keys.nodes()], [this.keys.node('')])) as string[];
    return raw
      .map(parseNodeInfo)
      .filter((n): n is NodeInfo => n !== undefined)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** A live node by id. */
  async get(id: string): Promise<NodeInfo | undefined> {
    const raw = await this.redis.client.get(this.keys.node(checkNodeId(id)));
    return raw === null ? undefined : parseNodeInfo(raw);
  }

  /**
   * Makes this node the room's origin unless another node already is. Atomic: of several
   * nodes pinning at once, exactly one wins. Resolves to the owner (this node's id when it
   * won or already owned the room). The pin lives while this node heartbeats.
   */
  async pinRoom(room: string): Promise<{ owner: string; pinned: boolean }> {
    this.assertOpen();
    const owner = (await PIN.run(this.redis.client, [this.keys.origin(room)], [this.self.id, this.ttlMs])) as string;
    const pinned = owner === this.self.id;
    if (pinned) this.pinned.add(room);
    else this.pinned.delete(room);
    return { owner, pinned };
  }

  /** The room's origin node id, if a live pin exists. */
  async originOf(room: string): Promise<string | undefined> {
    return (await this.redis.client.get(this.keys.origin(room))) ?? undefined;
  }

  /** Releases this node's pin of the room (a pin held by another node is left alone). Resolves to whether a pin was removed. */
  async unpin(room: string): Promise<boolean> {
    this.pinned.delete(room);
    return (await UNPIN.run(this.redis.client, [this.keys.origin(room)], [this.self.id])) === 1;
  }

  /**
   * Stops the heartbeat, then removes the node and its pins from Redis at once (best
   * effort: if Redis is away they expire within ttlMs). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closedValue) return;
    this.closedValue = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.redis.off('connected', this.onConnected);
    await this.beating?.catch(() => {});
    const rooms = [...this.pinned];
    this.pinned.clear();
    await Promise.allSettled([
      DEREGISTER.run(this.redis.client, [this.keys.node(this.self.id), this.keys.nodes()], [this.self.id]),
      ...rooms.map((room) => UNPIN.run(this.redis.client, [this.keys.origin(room)], [this.self.id])),
    ]);
  }

  /** One beat at a time: a slow Redis must not pile up overlapping beats. */
  private beatOnce(): Promise<void> {
    if (this.closedValue) return Promise.resolve();
    this.beating ??= this.doBeat().finally(() => (this.beating = undefined));
    return this.beating;
  }

  private async doBeat(): Promise<void> {
    const all = this.rooms();
    const rooms = all.length > MAX_LISTED_ROOMS ? [...all].sort((a, b) => b.peers - a.peers).slice(0, MAX_LISTED_ROOMS) : all;
    const info: NodeInfo = { ...this.self, load: this.load(), rooms, roomsNotListed: all.length - rooms.length };
    await HEARTBEAT.run(this.redis.client, [this.keys.node(this.self.id), this.keys.nodes()], [this.self.id, JSON.stringify(info), this.ttlMs]);
    const pins = [...this.pinned];
    const owners = await Promise.all(pins.map((room) => PIN.run(this.redis.client, [this.keys.origin(room)], [this.self.id, this.ttlMs]) as Promise<string>));
    pins.forEach((room, i) => {
      const owner = owners[i];
      // Unpinned while the beat ran, or still ours: nothing to report.
      if (owner === undefined || owner === this.self.id || !this.pinned.has(room)) return;
      this.pinned.delete(room);
      this.emit('pinLost', room, owner);
    });
  }

  private assertOpen(): void {
    if (this.closedValue) throw new Error('the registry is closed');
  }
}

function parseNodeInfo(raw: string): NodeInfo | undefined {
  try {
    const n = JSON.parse(raw) as Partial<NodeInfo>;
    if (typeof n.id !== 'string' || typeof n.wsUrl !== 'string' || typeof n.httpUrl !== 'string' || typeof n.mediaAddress !== 'string') return undefined;
    if (typeof n.load !== 'number' || typeof n.startedAt !== 'number') return undefined;
    // Rooms came with a later version: a node that does not report them lists none.
    const rooms = Array.isArray(n.rooms) ? n.rooms.filter(isNodeRoom) : [];
    const roomsNotListed = typeof n.roomsNotListed === 'number' ? n.roomsNotListed : 0;
    return { id: n.id, wsUrl: n.wsUrl, httpUrl: n.httpUrl, mediaAddress: n.mediaAddress, load: n.load, startedAt: n.startedAt, rooms, roomsNotListed };
  } catch {
    return undefined; // written by something else: not a node we can route to
  }
}

function isNodeRoom(r: unknown): r is NodeRoom {
  const x = r as Partial<NodeRoom> | null;
  return typeof x?.id === 'string' && typeof x.peers === 'number' && typeof x.viewers === 'number' && typeof x.publishers === 'number';
}
