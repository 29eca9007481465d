import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { RedisConnection } from '../../src/cluster/redis.js';
import { MAX_LISTED_ROOMS, NodeRegistry, type NodeRegistryOptions } from '../../src/cluster/registry.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

// Each "node" has its own Redis connections, as separate processes would. Heartbeats are
// fast (50 ms, ttl 150 ms) so expiry happens within the test; waits are generous.

let redis: TestRedis;
const cleanup: (() => Promise<void>)[] = [];
let prefixN = 0;
let keys: ClusterKeys;

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  keys = new ClusterKeys(`t${++prefixN}`);
});
afterAll(async () => {
  await redis?.stop();
});
keys = new ClusterKeys('t0');

async function node(id: string, opts: NodeRegistryOptions = {}) {
  const conn = new RedisConnection(redis.url, { reconnectBaseMs: 20, reconnectMaxMs: 200, name: id });
  await conn.waitConnected();
  const registry = new NodeRegistry(
    conn,
    { id, wsUrl: `ws://127.0.0.1:1/${id}`, httpUrl: `http://127.0.0.1:1/${id}`, mediaAddress: '127.0.0.1', startedAt: 1_700_000_000_000 },
    { heartbeatMs: 50, ttlMs: 150, keys, ...opts },
  );
  cleanup.push(async () => {
    await registry.close();
    await conn.close();
  });
  return { conn, registry };
}

/** A node that dies without a word (kill -9): its connections drop, its heartbeat stops reaching Redis. */
async function crash(n: { conn: RedisConnection }) {
  await n.conn.close();
}

describe('NodeRegistry', () => {
  it('lists the nodes that heartbeat, with what they registered and their current load', async () => {
    let load = 3;
    const room = { id: 'stage-1', peers: 5, viewers: 4, publishers: 1 };
    let rooms = [room];
    const a = await node('node-a', { load: () => load, rooms: () => rooms });
    const b = await node('node-b');
    await a.registry.start();
    await b.registry.start();
    const list = await a.registry.list();
    expect(list.map((n) => n.id)).toEqual(['node-a', 'node-b']);
    expect(list[0]).toEqual({
      id: 'node-a',
      wsUrl: 'ws://127.0.0.1:1/node-a',
      httpUrl: 'http://127.0.0.1:1/node-a',
      mediaAddress: '127.0.0.1',
      load: 3,
      startedAt: 1_700_000_000_000,
      rooms: [room],
      roomsNotListed: 0,
    });
    expect(list[1]).toMatchObject({ rooms: [], roomsNotListed: 0 });
    load = 42;
    await vi.waitFor(async () => expect((await b.registry.get('node-a'))?.load).toBe(42));
    // A node with more rooms than a beat lists: the busiest, and how many more there are.
    rooms = Array.from({ length: MAX_LISTED_ROOMS + 50 }, (_, i) => ({ id: `r${i}`, peers: i, viewers: i, publishers: 0 }));
    await vi.waitFor(async () => expect((await b.registry.get('node-a'))?.roomsNotListed).toBe(50));
    const listed = (await b.registry.get('node-a'))!.rooms;
    expect(listed).toHaveLength(MAX_LISTED_ROOMS);
    expect(listed[0]!.id).toBe(`r${MAX_LISTED_ROOMS + 49}`);
  });

  it('keeps a node listed while it heartbeats, well past its ttl', async () => {
    const a = await node('node-a');
    await a.registry.start();
    const beats = await countBeats(a.registry, 10);
    expect(beats).toBeGreaterThanOrEqual(10);
    expect((await a.registry.list()).map((n) => n.id)).toEqual(['node-a']);
  });

  it('drops a node that stops heartbeating from list()', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    await a.registry.start();
    await b.registry.start();
    expect((await a.registry.list()).map((n) => n.id)).toEqual(['node-a', 'node-b']);
    await crash(b);
    await vi.waitFor(async () => expect((await a.registry.list()).map((n) => n.id)).toEqual(['node-a']), { timeout: 5000, interval: 50 });
    expect(await a.registry.get('node-b')).toBeUndefined();
    // The index forgot it too, not just the listing.
    expect(await a.conn.client.smembers(keys.nodes())).toEqual(['node-a']);
  });

  it('removes a node at once when it closes', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    await a.registry.start();
    await b.registry.start();
    await b.registry.pinRoom('stage');
    await b.registry.close();
    expect((await a.registry.list()).map((n) => n.id)).toEqual(['node-a']);
    expect(await a.registry.originOf('stage')).toBeUndefined();
  });

  it('pins a room to exactly one of several nodes racing for it; the others learn the owner', async () => {
    const nodes = await Promise.all(['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => node(id)));
    for (let r = 0; r < 20; r++) {
      const room = `race-${r}`;
      const results = await Promise.all(nodes.map((n) => n.registry.pinRoom(room)));
      const winners = results.filter((x) => x.pinned);
      expect(winners).toHaveLength(1);
      const owner = winners[0]!.owner;
      expect(new Set(results.map((x) => x.owner))).toEqual(new Set([owner]));
      expect(await nodes[0]!.registry.originOf(room)).toBe(owner);
      // Pinning again is idempotent for everyone.
      expect((await Promise.all(nodes.map((n) => n.registry.pinRoom(room)))).map((x) => x.owner)).toEqual(nodes.map(() => owner));
    }
  });

  it('keeps a pin while its origin heartbeats; only the owner can unpin', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    await a.registry.start();
    await b.registry.start();
    expect(await a.registry.pinRoom('stage')).toEqual({ owner: 'node-a', pinned: true });
    await countBeats(a.registry, 10);
    expect(await b.registry.originOf('stage')).toBe('node-a');
    expect(await b.registry.unpin('stage')).toBe(false);
    expect(await b.registry.originOf('stage')).toBe('node-a');
    expect(await a.registry.unpin('stage')).toBe(true);
    expect(await b.registry.originOf('stage')).toBeUndefined();
    expect(await b.registry.pinRoom('stage')).toEqual({ owner: 'node-b', pinned: true });
  });

  it('frees the pins of an origin that stops heartbeating, so another node can take the room', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    await a.registry.start();
    await b.registry.start();
    await a.registry.pinRoom('stage');
    expect(await b.registry.pinRoom('stage')).toEqual({ owner: 'node-a', pinned: false });
    await crash(a);
    await vi.waitFor(async () => expect(await b.registry.originOf('stage')).toBeUndefined(), { timeout: 5000, interval: 50 });
    expect(await b.registry.pinRoom('stage')).toEqual({ owner: 'node-b', pinned: true });
  });

  it('registers again and re-pins its rooms when Redis comes back empty', async () => {
    const a = await node('node-a');
    await a.registry.start();
    await a.registry.pinRoom('stage');
    const failures: Error[] = [];
    a.registry.on('heartbeatFailed', (e) => failures.push(e));
    await redis.stop();
    try {
      await vi.waitFor(() => expect(a.conn.state).toBe('degraded'));
      await a.registry.beat(); // fails, reported as an event: nothing throws
      expect(failures.length).toBeGreaterThan(0);
    } finally {
      await redis.start(); // no persistence: Redis comes back empty
    }
    await vi.waitFor(async () => expect((await a.registry.list()).map((n) => n.id)).toEqual(['node-a']), { timeout: 15_000, interval: 50 });
    await vi.waitFor(async () => expect(await a.registry.originOf('stage')).toBe('node-a'), { timeout: 5000, interval: 50 });
  });

  it('tells a node that lost a pin while it could not reach Redis', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    await a.registry.start();
    await a.registry.pinRoom('stage');
    const lost: [string, string][] = [];
    a.registry.on('pinLost', (room, owner) => lost.push([room, owner]));
    // node-a's pin vanishes (as if it expired during a partition) and node-b takes the room.
    await b.conn.client.del(keys.origin('stage'));
    expect(await b.registry.pinRoom('stage')).toEqual({ owner: 'node-b', pinned: true });
    await vi.waitFor(() => expect(lost).toEqual([['stage', 'node-b']]));
    expect(a.registry.pinnedRooms).toEqual([]);
  });
});

/** Resolves after `n` heartbeats of the registry have gone through. */
async function countBeats(registry: NodeRegistry, n: number): Promise<number> {
  let beats = 0;
  while (beats < n) {
    if (beats > 0) await new Promise((r) => setTimeout(r, registry.heartbeatMs));
    await registry.beat();
    beats++;
  }
  return beats;
}
