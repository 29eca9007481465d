import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import { banKey, type Ban, type BanChange, type BanList } from '../moderation/banList.js';
import { ClusterKeys } from './keys.js';
import { LuaScript, type RedisConnection } from './redis.js';

export interface ClusterBansOptions {
  keys?: ClusterKeys;
  log: Logger;
  /**
   * Another node banned `keys` in `room`, or a reload found bans this node did not hold:
   * close this node's connections in that room that the list now refuses. Not called for
   * this node's own bans (whoever banned here closed the connection already).
   */
  onBanned?: (room: string, keys: string[]) => void;
  /** Clock (ms since the epoch); the same one the BanList uses. Default Date.now. */
  now?: () => number;
}

// ─── Lua ────────────────────────────────────────────────────────────────────────────
// KEYS: 1 the room's ban hash, 2 the rooms index. ARGV: 1 room, 2 channel, 3 the message's
// JSON up to its change (`{"o":…,"s":…,"c":`), then per script. The change is published
// by the script itself, so the channel carries changes in the order Redis applied them
// and every node that applies them in that order ends up with Redis's state.

// ARGV: 4 now, then ban key, expiry pairs. Keeps the longer of two bans; the hash expires
// with its longest ban, and expired entries are dropped on the way.
const BAN = new LuaScript(
  `local now = tonumber(ARGV[4])
local out, n = {}, 0
for i = 5, #ARGV, 2 do
  local k, v = ARGV[i], tonumber(ARGV[i + 1])
  if v > now then
    local cur = tonumber(redis.call('HGET', KEYS[1], k) or '0')
    if cur < v then
      redis.call('HSET', KEYS[1], k, ARGV[i + 1])
      cur = v
    end
    out[k] = cur
    n = n + 1
  end
end
if n == 0 then return 0 end
local longest, at = 0, '0'
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local v = tonumber(all[i + 1])
  if v <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif v > longest then
    longest, at = v, all[i + 1]
  end
end
redis.call('PEXPIREAT', KEYS[1], at)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3] .. cjson.encode({type = 'ban', room = ARGV[1], bans = out}) .. '}')
return n`,
  2,
);

// ARGV: 4 ban key.
const LIFT = new LuaScript(
  `local n = redis.call('HDEL', KEYS[1], ARGV[4])
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3] .. cjson.encode({type = 'lift', room = ARGV[1], key = ARGV[4]}) .. '}')
return n`,
  2,
);

const CLEAR = new LuaScript(
  `local n = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3] .. cjson.encode({type = 'clear', room = ARGV[1]}) .. '}')
return n`,
  2,
);

// KEYS: 1 rooms index, 2 epoch. ARGV: 1 room hash prefix, 2 a fresh epoch (kept only when
// there is none). Returns {epoch, room, {key, expiry, …}, room, …}; rooms whose hash
// expired leave the index.
const LOAD = new LuaScript(
  `redis.call('SET', KEYS[2], ARGV[2], 'NX')
local out = {redis.call('GET', KEYS[2])}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local all = redis.call('HGETALL', ARGV[1] .. room .. '}')
  if #all == 0 then
    redis.call('SREM', KEYS[1], room)
  else
    table.insert(out, room)
    table.insert(out, all)
  end
end
return out`,
  2,
);

/** What travels on the channel: the node that made the change, its sequence there, the change. */
interface BanMessage {
  o: string;
  s: number;
  c: BanChange;
}

interface Pending {
  seq: number;
  change: BanChange;
}

/** Pending writes sent to Redis at once (they are pipelined on one connection, in order). */
const BATCH = 100;
/** A write that failed while Redis looked connected (a timeout) is tried again after this. */
const RETRY_MS = 1000;

/**
 * Makes a node's BanList a replica of the cluster's bans, kept in Redis: one hash per
 * room (ban key → expiry), one channel for changes.
 *
 * - A change made on this node (BanList ban/lift/clear) applies locally at once, then is
 *   written to Redis by a script that also publishes it. Redis away: writes wait in order
 *   and are sent when Redis is back (`connected`); nothing throws to the caller.
 * - Changes from other nodes arrive on the channel and are applied with `BanList.apply`
 *   (no echo). This node's own changes coming back are applied too, unless a newer change
 *   of the same room is still on its way: so concurrent changes on two nodes end up in
 *   Redis's order everywhere.
 * - Every (re)subscription reloads: first the pending writes go out, then the list is made
 *   equal to Redis (a lift made elsewhere while this node was cut off is not missed),
 *   with the writes still pending applied on top. If Redis lost its bans (it came back
 *   empty: a new epoch), the list is instead merged with Redis and this node's bans are
 *   written back, so a Redis restart does not lift every ban in the cluster.
 */
export class ClusterBans {
  private readonly keys: ClusterKeys;
  private readonly k: ReturnType<ClusterKeys['banIndex']>;
  private readonly log: Logger;
  private readonly now: () => number;
  /** Tells this node's messages from others'; new per process. */
  private readonly origin = randomUUID();
  private seq = 0;
  private readonly pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private loading: Promise<void> | undefined;
  /** Set while a reload runs: messages wait here and are applied on top of the snapshot. */
  private buffered: BanMessage[] | undefined;
  /** The Redis ban epoch of the last load; undefined before the first. */
  private epoch: string | undefined;
  /** A reload failed (Redis dropped mid-way): the next `connected` tries again. */
  private needLoad = false;
  /** One warning per outage. */
  private writeFailing = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private unwatch: (() => void) | undefined;
  private started = false;
  private closedValue = false;
  private firstLoad: { promise: Promise<void>; resolve: () => void };
  private readonly onConnected = () => {
    void this.flush();
    if (this.needLoad) void this.load();
  };

  constructor(
    private readonly redis: RedisConnection,
    private readonly local: BanList,
    private readonly opts: ClusterBansOptions,
  ) {
    this.keys = opts.keys ?? new ClusterKeys();
    this.k = this.keys.banIndex();
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstLoad = { promise, resolve };
  }

  get closed(): boolean {
    return this.closedValue;
  }

  /** Local changes not yet written to Redis. */
  get pendingWrites(): number {
    return this.pending.length;
  }

  /**
   * Follows the cluster's bans and starts writing this node's. Resolves after the first
   * load from Redis (with Redis away, when it first answers, or on close); never rejects.
   * The node need not wait: local bans apply meanwhile.
   */
  start(): Promise<void> {
    if (this.closedValue) throw new Error('ClusterBans is closed');
    if (this.started) return this.firstLoad.promise;
    this.started = true;
    // Bans made before start are the cluster's too.
    for (const [room, bans] of byRoom(this.local.list())) this.pending.push({ seq: ++this.seq, change: { type: 'ban', room, bans } });
    this.unwatch = this.local.watch((change) => {
      this.pending.push({ seq: ++this.seq, change });
      void this.flush();
    });
    this.redis.on('connected', this.onConnected);
    this.unsubscribe = this.redis.subscribe(this.k.channel, {
      message: (payload) => this.onMessage(payload),
      subscribed: () => void this.load(),
    });
    return this.firstLoad.promise;
  }

  /**
   * Stops following and writing. Pending writes get one last try if Redis is up (a ban
   * made just before shutdown should outlive the node); what is left is logged.
   */
  async close(): Promise<void> {
    if (this.closedValue) return;
    this.closedValue = true;
    this.unwatch?.();
    this.unsubscribe?.();
    this.redis.off('connected', this.onConnected);
    clearTimeout(this.retryTimer);
    await this.loading;
    await this.flushing;
    await this.drain();
    if (this.pending.length) this.log.warn({ pending: this.pending.length }, 'ban changes not written to Redis at close: other nodes will not see them');
    this.firstLoad.resolve();
  }

  // ─── writes ─────────────────────────────────────────────────────────────────────

  /** Sends pending writes in order, one batch at a time; stops at the first failure. */
  private flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
      // A change queued while the last batch was in flight, after the loop had looked.
      if (this.pending.length && !this.writeFailing && !this.closedValue && this.redis.state === 'connected') void this.flush();
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.pending.length) {
      if (this.redis.state !== 'connected') return void this.writeFailed('Redis not connected');
      const batch = this.pending.slice(0, BATCH);
      const results = await Promise.allSettled(batch.map((p) => this.write(p)));
      const failed = results.findIndex((r) => r.status === 'rejected');
      // Only what succeeded in order leaves the queue: a later write that went through is
      // sent again after the failed one (each write is idempotent), so order holds.
      this.pending.splice(0, failed === -1 ? batch.length : failed);
      if (failed !== -1) {
        const reason = (results[failed] as PromiseRejectedResult).reason as unknown;
        this.writeFailed(reason instanceof Error ? reason.message : String(reason));
        // Still connected (a timeout, a stuck Redis): no `connected` will come to retry.
        if (this.redis.state === 'connected' && !this.closedValue) {
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => void this.flush(), RETRY_MS);
          this.retryTimer.unref();
        }
        return;
      }
    }
    if (this.writeFailing && !this.pending.length) {
      this.writeFailing = false;
      this.log.info('ban changes made while Redis was away are written; the cluster has them');
    }
  }

  private writeFailed(reason: string): void {
    if (!this.writeFailing) this.log.warn({ err: reason, pending: this.pending.length }, 'ban changes cannot reach Redis: they apply on this node now and go to the cluster when Redis is back');
    this.writeFailing = true;
  }

  private write({ seq, change }: Pending): Promise<unknown> {
    const client = this.redis.client;
    const keys = [this.keys.bans(change.room), this.k.rooms];
    const head = `{"o":${JSON.stringify(this.origin)},"s":${seq},"c":`;
    const base = [change.room, this.k.channel, head];
    if (change.type === 'lift') return LIFT.run(client, keys, [...base, change.key]);
    if (change.type === 'clear') return CLEAR.run(client, keys, [...base]);
    const pairs = Object.entries(change.bans).flatMap(([key, until]) => [key, String(until)]);
    return BAN.run(client, keys, [...base, this.now(), ...pairs]);
  }

  // ─── reads ──────────────────────────────────────────────────────────────────────

  private onMessage(payload: string): void {
    const m = parseMessage(payload);
    if (!m) return void this.log.warn({ payload: payload.slice(0, 200) }, 'ignored a ban message this node cannot read');
    if (this.buffered) this.buffered.push(m);
    else this.applyMessage(m);
  }

  private applyMessage(m: BanMessage): void {
    const own = m.o === this.origin;
    // Our own change coming back: a newer local change of that room is already applied
    // here and would be undone until its own echo arrives.
    if (own && this.pending.some((p) => p.seq > m.s && p.change.room === m.c.room)) return;
    // Only keys not in force here yet: one in force was enforced when it arrived, and joins are refused.
    const newly = m.c.type === 'ban' && !own ? this.notBanned(m.c.room, Object.keys(m.c.bans)) : [];
    this.local.apply(m.c);
    if (newly.length) this.banned(m.c.room, newly);
  }

  /** One reload at a time; a request during one runs another after it. */
  private load(): Promise<void> {
    if (this.closedValue) return Promise.resolve();
    if (this.loading) {
      this.needLoad = true;
      return this.loading;
    }
    this.loading = this.loadOnce().finally(() => {
      this.loading = undefined;
      if (this.needLoad && !this.closedValue && this.redis.state === 'connected') void this.load();
    });
    return this.loading;
  }

  private async loadOnce(): Promise<void> {
    this.needLoad = false;
    this.buffered = [];
    try {
      // Our pending writes first, so the snapshot holds them.
      await this.flush();
      const reply = (await LOAD.run(this.redis.client, [this.k.rooms, this.k.epoch], [this.k.roomPrefix, randomUUID()])) as [string, ...(string | string[])[]];
      const [epoch, ...flat] = reply;
      const now = this.now();
      const remote = new Map<string, Record<string, number>>();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const room = flat[i] as string;
        const fields = flat[i + 1] as string[];
        const bans: Record<string, number> = {};
        for (let j = 0; j + 1 < fields.length; j += 2) {
          const until = Number(fields[j + 1]);
          if (until > now) bans[fields[j]!] = until;
        }
        remote.set(room, bans);
      }
      const before = new Set(this.local.list().map((b) => `${b.room}\n${banKey(b.kind, b.key)}`));
      const lost = this.epoch !== undefined && epoch !== this.epoch;
      if (lost) {
        // Redis came back without our bans: keep ours and write them back.
        const mine = this.local.list();
        this.log.warn({ bans: mine.length }, 'Redis lost the cluster bans; writing back the ones this node holds');
        for (const [room, bans] of remote) this.local.apply({ type: 'ban', room, bans });
        for (const [room, bans] of byRoom(mine)) this.pending.push({ seq: ++this.seq, change: { type: 'ban', room, bans } });
      } else {
        // Redis is the truth; what this node changed and could not write yet stays on top.
        this.local.replaceAll(remote);
        for (const p of this.pending) this.local.apply(p.change);
      }
      this.epoch = epoch;
      for (const [room, bans] of remote) {
        const newly = Object.keys(bans).filter((k) => !before.has(`${room}\n${k}`));
        if (newly.length) this.banned(room, newly);
      }
      this.firstLoad.resolve();
    } catch (err) {
      this.needLoad = true;
      this.log.warn({ err: (err as Error).message }, 'could not load the cluster bans; trying again when Redis is back');
    } finally {
      const buffered = this.buffered;
      this.buffered = undefined;
      for (const m of buffered) this.applyMessage(m);
    }
    if (this.pending.length) void this.flush();
  }

  private notBanned(room: string, keys: string[]): string[] {
    const inForce = new Set(this.local.list(room).map((b) => banKey(b.kind, b.key)));
    return keys.filter((k) => !inForce.has(k));
  }

  private banned(room: string, keys: string[]): void {
    try {
      this.opts.onBanned?.(room, keys);
    } catch (err) {
      this.log.error({ err: (err as Error).message, room }, 'onBanned failed');
    }
  }
}

/** Bans grouped as ban changes carry them: room → ban key → expiry. */
function byRoom(bans: Ban[]): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const b of bans) {
    const room = out.get(b.room) ?? {};
    room[banKey(b.kind, b.key)] = b.expiresAt;
    out.set(b.room, room);
  }
  return out;
}

function parseMessage(payload: string): BanMessage | undefined {
  try {
    const m = JSON.parse(payload) as Partial<BanMessage>;
    const c = m.c as Partial<BanChange> | undefined;
    if (typeof m.o !== 'string' || typeof m.s !== 'number' || !c || typeof c.room !== 'string') return undefined;
    if (c.type === 'lift' && typeof c.key === 'string') return m as BanMessage;
    if (c.type === 'clear') return m as BanMessage;
    if (c.type === 'ban' && c.bans && typeof c.bans === 'object') {
      // cjson writes an empty table as {} and numbers as numbers; be strict anyway.
      const bans: Record<string, number> = {};
      for (const [k, v] of Object.entries(c.bans as Record<string, unknown>)) if (typeof v === 'number') bans[k] = v;
      return { o: m.o, s: m.s, c: { type: 'ban', room: c.room, bans } };
    }
    return undefined;
  } catch {
    return undefined;
  }
}
