import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClusterBans } from '../../src/cluster/bans.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { RedisConnection } from '../../src/cluster/redis.js';
import { BanList } from '../../src/moderation/banList.js';
import { captureLog } from '../helpers/captureLog.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

// Each "node" has its own Redis connections, BanList and ClusterBans, as separate
// processes would, against one real redis-server of the test's own. Every test has its
// own key prefix.

let redis: TestRedis;
const cleanup: (() => Promise<void>)[] = [];
let prefixN = 0;
let keys = new ClusterKeys('bans0');

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  keys = new ClusterKeys(`bans${++prefixN}`);
});
afterAll(async () => {
  await redis?.stop();
});

const HOUR = 3600_000;
const wait = { timeout: 5000, interval: 20 };

async function node(name: string, opts: { start?: boolean } = {}) {
  const conn = new RedisConnection(redis.url, { reconnectBaseMs: 20, reconnectMaxMs: 200, name });
  await conn.waitConnected();
  const list = new BanList(HOUR);
  const banned: [string, string[]][] = [];
  const { log, text } = captureLog();
  const cluster = new ClusterBans(conn, list, { keys, log, onBanned: (room, k) => banned.push([room, k]) });
  cleanup.push(async () => {
    await cluster.close();
    await conn.close();
  });
  if (opts.start !== false) await cluster.start();
  return { conn, list, cluster, banned, log: text };
}

/** A plain client for looking at Redis directly. */
async function raw(): Promise<Redis> {
  const r = new Redis(redis.url, { lazyConnect: true });
  await r.connect();
  cleanup.push(async () => void r.disconnect());
  return r;
}

describe('ClusterBans', () => {
  it('carries bans, lifts and clears between nodes, and tells the other node what to close', async () => {
    const a = await node('a');
    const b = await node('b');
    a.list.ban('stage', ['tok:t1', 'ip:198.51.100.1']);
    await vi.waitFor(() => expect(b.list.isBanned('stage', ['tok:t1'])).toBe(true), wait);
    expect(b.list.isBanned('stage', ['ip:198.51.100.1'])).toBe(true);
    expect(b.list.isBanned('other', ['tok:t1'])).toBe(false);
    expect(b.banned).toEqual([['stage', ['tok:t1', 'ip:198.51.100.1']]]);
    // The node that banned does its own closing: it is not told again.
    expect(a.banned).toEqual([]);
    // Same expiry on both.
    expect(b.list.list()).toEqual(a.list.list());

    expect(b.list.lift('stage', 'tok:t1')).toBe(true);
    await vi.waitFor(() => expect(a.list.isBanned('stage', ['tok:t1'])).toBe(false), wait);
    expect(a.list.isBanned('stage', ['ip:198.51.100.1'])).toBe(true);

    a.list.ban('lobby', ['ip:203.0.113.7']);
    await vi.waitFor(() => expect(b.list.size).toBe(2), wait);
    b.list.clear('stage');
    await vi.waitFor(() => expect(a.list.list().map((x) => x.room)).toEqual(['lobby']), wait);
    expect(b.list.list()).toEqual(a.list.list());

    const r = await raw();
    expect(await r.hgetall(keys.bans('stage'))).toEqual({});
    expect(Object.keys(await r.hgetall(keys.bans('lobby')))).toEqual(['ip:203.0.113.7']);
    expect(await r.smembers(keys.banIndex().rooms)).toEqual(['lobby']);
    expect(a.cluster.pendingWrites).toBe(0);
    expect(b.cluster.pendingWrites).toBe(0);
  });

  it('a node started later (a restart) loads the bans in force, and is told to close what matches them', async () => {
    const a = await node('a');
    a.list.ban('stage', ['tok:t1']);
    a.list.ban('lobby', ['ip:198.51.100.1'], 60_000);
    await vi.waitFor(() => expect(a.cluster.pendingWrites).toBe(0), wait);
    const c = await node('c');
    expect(c.list.list()).toEqual(a.list.list());
    expect(c.banned.sort()).toEqual([
      ['lobby', ['ip:198.51.100.1']],
      ['stage', ['tok:t1']],
    ]);
  });

  it('keeps the longer ban when another node bans the same key for less', async () => {
    const a = await node('a');
    const b = await node('b');
    a.list.ban('stage', ['ip:x'], HOUR);
    await vi.waitFor(() => expect(b.list.isBanned('stage', ['ip:x'])).toBe(true), wait);
    const long = a.list.list()[0]!.expiresAt;
    b.list.ban('stage', ['ip:x'], 1_000);
    // B's own list kept the longer one too; A never shortens.
    expect(b.list.list()[0]!.expiresAt).toBe(long);
    await vi.waitFor(() => expect(b.cluster.pendingWrites).toBe(0), wait);
    const r = await raw();
    expect(Number(await r.hget(keys.bans('stage'), 'ip:x'))).toBe(long);
    await new Promise((res) => setTimeout(res, 1_200));
    expect(a.list.isBanned('stage', ['ip:x'])).toBe(true);
    expect(b.list.isBanned('stage', ['ip:x'])).toBe(true);
    expect(a.list.list()[0]!.expiresAt).toBe(long);
    // A longer ban does extend it everywhere.
    b.list.ban('stage', ['ip:x'], 2 * HOUR);
    await vi.waitFor(() => expect(a.list.list()[0]!.expiresAt).toBeGreaterThan(long + HOUR - 1000), wait);
  });

  it('expires a short ban in Redis and on a node that loads later', async () => {
    const a = await node('a');
    a.list.ban('stage', ['ip:short'], 300);
    a.list.ban('stage', ['ip:long'], HOUR);
    a.list.ban('brief', ['ip:short'], 300);
    await vi.waitFor(() => expect(a.cluster.pendingWrites).toBe(0), wait);
    const r = await raw();
    expect(await r.pttl(keys.bans('brief'))).toBeGreaterThan(0);
    expect(await r.pttl(keys.bans('brief'))).toBeLessThanOrEqual(300);
    await new Promise((res) => setTimeout(res, 400));
    // The room whose only ban expired is gone; the other keeps its long ban.
    expect(await r.exists(keys.bans('brief'))).toBe(0);
    expect(a.list.isBanned('stage', ['ip:short'])).toBe(false);
    const c = await node('c');
    expect(c.list.list().map((x) => `${x.room} ${x.key}`)).toEqual(['stage long']);
    // The load dropped the expired room from the index.
    expect(await r.smembers(keys.banIndex().rooms)).toEqual(['stage']);
  });

  it('Redis stopped: a ban applies locally at once; it reaches Redis and the other node when Redis is back', async () => {
    const a = await node('a');
    const b = await node('b');
    await redis.stop();
    await vi.waitFor(() => expect(a.conn.state).toBe('degraded'), wait);
    expect(() => a.list.ban('stage', ['tok:offline'])).not.toThrow();
    expect(a.list.isBanned('stage', ['tok:offline'])).toBe(true);
    expect(a.list.lift('stage', 'tok:nobody')).toBe(false);
    await vi.waitFor(() => expect(a.log()).toContain('ban changes cannot reach Redis'), wait);
    expect(a.cluster.pendingWrites).toBe(2);
    await redis.start();
    await vi.waitFor(() => expect(b.list.isBanned('stage', ['tok:offline'])).toBe(true), { timeout: 10_000, interval: 20 });
    expect(b.banned).toEqual([['stage', ['tok:offline']]]);
    expect(a.cluster.pendingWrites).toBe(0);
    const r = await raw();
    expect(Object.keys(await r.hgetall(keys.bans('stage')))).toEqual(['tok:offline']);
    expect(a.log()).toContain('ban changes made while Redis was away are written');
  });

  it('Redis restarted empty: the nodes write back the bans they hold, and a later node sees them', async () => {
    const a = await node('a');
    const b = await node('b');
    a.list.ban('stage', ['tok:before']);
    await vi.waitFor(() => expect(b.list.isBanned('stage', ['tok:before'])).toBe(true), wait);
    await redis.restart();
    // A ban made on B right after the restart, maybe before B reconnected.
    b.list.ban('stage', ['tok:after']);
    await vi.waitFor(() => expect(a.list.isBanned('stage', ['tok:after'])).toBe(true), { timeout: 10_000, interval: 20 });
    expect(a.list.isBanned('stage', ['tok:before'])).toBe(true);
    expect(b.list.isBanned('stage', ['tok:before'])).toBe(true);
    const r = await raw();
    await vi.waitFor(async () => expect(Object.keys(await r.hgetall(keys.bans('stage'))).sort()).toEqual(['tok:after', 'tok:before']), wait);
    const c = await node('c');
    expect(c.list.list().map((x) => x.key).sort()).toEqual(['after', 'before']);
    expect(a.log() + b.log()).toContain('Redis lost the cluster bans');
  });

  it('a node cut off from Redis reloads to Redis state: a lift it missed is not kept', async () => {
    const a = await node('a');
    const b = await node('b');
    a.list.ban('stage', ['tok:t1', 'tok:t2']);
    await vi.waitFor(() => expect(b.list.size).toBe(2), wait);
    // B's connections are cut; the lift of t1 happens while B cannot hear it.
    const r = await raw();
    const list = await r.client('LIST');
    const ids = String(list)
      .split('\n')
      .filter((l) => / name=b(:sub)? /.test(l))
      .map((l) => /id=(\d+)/.exec(l)![1]!);
    expect(ids).toHaveLength(2);
    const lifted = new Promise<void>((resolve) => {
      b.conn.once('degraded', () => {
        a.list.lift('stage', 'tok:t1');
        resolve();
      });
    });
    for (const id of ids) await r.client('KILL', 'ID', id);
    await lifted;
    await vi.waitFor(() => expect(a.cluster.pendingWrites).toBe(0), wait);
    await vi.waitFor(() => expect(b.list.isBanned('stage', ['tok:t1'])).toBe(false), { timeout: 10_000, interval: 20 });
    expect(b.list.isBanned('stage', ['tok:t2'])).toBe(true);
    expect(b.list.list()).toEqual(a.list.list());
  });

  it('50 concurrent bans from each of two nodes all end up on both nodes and in Redis', async () => {
    const a = await node('a');
    const b = await node('b');
    for (let i = 0; i < 50; i++) {
      a.list.ban('stage', [`ip:10.0.0.${i}`]);
      b.list.ban('stage', [`ip:10.0.1.${i}`]);
    }
    await vi.waitFor(() => expect(a.list.size).toBe(100), wait);
    await vi.waitFor(() => expect(b.list.size).toBe(100), wait);
    // Equal expiries list in insertion order, which differs between the nodes.
    const sorted = (l: BanList) => l.list().map((x) => `${x.key} ${x.expiresAt}`).sort();
    expect(sorted(b.list)).toEqual(sorted(a.list));
    const r = await raw();
    expect(await r.hlen(keys.bans('stage'))).toBe(100);
    expect(b.banned.flatMap(([, k]) => k)).toHaveLength(50);
  });

  it('concurrent ban and lift of one key on two nodes leave both nodes as Redis has it', async () => {
    const a = await node('a');
    const b = await node('b');
    const r = await raw();
    for (let i = 0; i < 20; i++) {
      const key = `tok:race${i}`;
      a.list.ban('stage', [key]);
      b.list.lift('stage', key);
      await vi.waitFor(() => expect(a.cluster.pendingWrites + b.cluster.pendingWrites).toBe(0), wait);
    }
    const inRedis = Object.keys(await r.hgetall(keys.bans('stage'))).sort();
    await vi.waitFor(() => expect(a.list.list().map((x) => `tok:${x.key}`).sort()).toEqual(inRedis), wait);
    await vi.waitFor(() => expect(b.list.list().map((x) => `tok:${x.key}`).sort()).toEqual(inRedis), wait);
  });

  it('close stops following and leaves nothing running', async () => {
    const a = await node('a');
    const b = await node('b');
    await b.cluster.close();
    a.list.ban('stage', ['ip:x']);
    await vi.waitFor(() => expect(a.cluster.pendingWrites).toBe(0), wait);
    await new Promise((res) => setTimeout(res, 100));
    expect(b.list.isBanned('stage', ['ip:x'])).toBe(false);
    // B's list is on its own now: its changes go nowhere.
    b.list.ban('stage', ['ip:y']);
    expect(b.cluster.pendingWrites).toBe(0);
    expect(b.conn.listenerCount('connected')).toBe(0);
    await b.cluster.close();
  });
});
