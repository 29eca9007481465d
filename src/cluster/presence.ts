import type { Logger } from '../log.js';
import type { NodePresence } from '../rooms/presence.js';
import { ClusterKeys } from './keys.js';
import { LuaScript, type RedisConnection } from './redis.js';

/** What a node shows of its room's presence and learns of the other nodes' (rooms/room.ts). */
export interface PresenceRoom {
  readonly id: string;
  localPresence(): NodePresence;
  setRemotePresence(p: NodePresence): void;
}

export interface ClusterPresenceOptions {
  nodeId: string;
  /** The rooms open on this node, read at every tick. */
  rooms: () => Iterable<PresenceRoom>;
  log: Logger;
  /** How often each room's part is written and the others' read (ms). Default 1000. */
  intervalMs?: number;
  keys?: ClusterKeys;
}

// KEYS: 1 the room's presence hash. ARGV: 1 node id, 2 this node's part (JSON), 3 now (ms),
// 4 staleness (ms). Writes this node's part with its time, drops parts not refreshed within
// the staleness (a node that died), keeps the hash alive while anyone writes, and returns
// the other nodes' parts.
const REPORT = new LuaScript(
  `redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. ' ' .. ARGV[2])
local now, stale = tonumber(ARGV[3]), tonumber(ARGV[4])
local others = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    local sp = string.find(all[i + 1], ' ', 1, true)
    if now - tonumber(string.sub(all[i + 1], 1, sp - 1)) > stale then
      redis.call('HDEL', KEYS[1], all[i])
    else
      table.insert(others, string.sub(all[i + 1], sp + 1))
    end
  end
end
redis.call('PEXPIRE', KEYS[1], stale)
return others`,
  1,
);

/**
 * Viewer counts and participant lists across nodes. Each node writes its part of every
 * room it has open, once per interval, into one Redis hash per room, and reads the other
 * nodes' parts back in the same script; rooms show the sum. One script per room per node
 * per interval, whatever the audience: nothing is sent per viewer.
 *
 * A node that stops writing (it died) drops out after three intervals. Redis away: rooms
 * keep the last sums they had, and catch up at the first tick after it returns.
 */
export class ClusterPresence {
  private readonly intervalMs: number;
  private readonly keys: ClusterKeys;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** Rooms written at the last tick: a room gone since is removed from Redis. */
  private reported = new Set<string>();
  private failing = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly opts: ClusterPresenceOptions,
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.keys = opts.keys ?? new ClusterKeys();
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** One round: write this node's part of each room, read the others'. Skipped while one runs. */
  tick(): Promise<void> {
    this.ticking ??= this.round().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /** Stops, and removes this node's parts (best effort) so the others' counts drop at once. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    await Promise.all([...this.reported].map((id) => this.redis.client.hdel(this.keys.presence(id), this.opts.nodeId).catch(() => 0)));
    this.reported.clear();
  }

  private async round(): Promise<void> {
    if (this.redis.state !== 'connected') return;
    const rooms = [...this.opts.rooms()];
    const now = Date.now();
    const stale = this.intervalMs * 3;
    const open = new Set(rooms.map((r) => r.id));
    const gone = [...this.reported].filter((id) => !open.has(id));
    this.reported = open;
    try {
      await Promise.all([
        ...gone.map((id) => this.redis.client.hdel(this.keys.presence(id), this.opts.nodeId)),
        ...rooms.map(async (room) => {
          const others = (await REPORT.run(this.redis.client, [this.keys.presence(room.id)], [this.opts.nodeId, JSON.stringify(room.localPresence()), now, stale])) as string[];
          room.setRemotePresence(sum(others.map((o) => JSON.parse(o) as NodePresence)));
        }),
      ]);
      if (this.failing) this.opts.log.info('cluster presence written again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.opts.log.warn({ err: (err as Error).message }, 'cluster presence not written; counts show the last known sums');
      this.failing = true;
    }
  }
}

/** The other nodes' parts together; the participant list only while every part has one. */
function sum(parts: NodePresence[]): NodePresence {
  const out: NodePresence = { viewers: 0, peers: 0, participants: [] };
  for (const p of parts) {
    out.viewers += p.viewers;
    out.peers += p.peers;
    out.participants = out.participants && p.participants ? [...out.participants, ...p.participants] : undefined;
  }
  return out;
}
