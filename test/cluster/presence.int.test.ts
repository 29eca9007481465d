import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterPresence, type PresenceRoom } from '../../src/cluster/presence.js';
import { RedisConnection } from '../../src/cluster/redis.js';
import type { NodePresence } from '../../src/rooms/presence.js';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { silentLog } from '../helpers/pool.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

/** The last value of a notification a client got (undefined before the first). */
function last<T>(c: TestClient, method: string): T | undefined {
  return c.notifications.filter((n) => n.method === method).at(-1)?.data as T | undefined;
}

// Viewer counts and small rooms' participant lists add up every node's part of the room.
describe('presence across a cluster (real Redis)', () => {
  let redis: TestRedis;
  const nodes: Fourcast[] = [];
  const clients: TestClient[] = [];

  const join = async (node: Fourcast, room: string, name: string, token?: string) => {
    const c = await TestClient.connect(`${node.urls.ws}?room=${room}${token ? `&token=${token}` : ''}`);
    clients.push(c);
    const info = await c.request('join', { name });
    return { c, info };
  };
  const counts = (cs: TestClient[]) => cs.map((c) => last<{ count: number }>(c, 'viewerCount')?.count);

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 3; i++) nodes.push(await startTestNode({ REDIS_URL: redis.url }));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const n of nodes) await n.close();
    await redis?.stop();
  });

  it('every node tells its participants the whole audience and, in a small room, everyone in it', async () => {
    const [a, b, c] = nodes as [Fourcast, Fourcast, Fourcast];
    const room = 'presence-1';
    const host = await join(a, room, 'Host', await a.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 }));
    const b1 = await join(b, room, 'Bea');
    const b2 = await join(b, room, 'Bob');
    const c1 = await join(c, room, 'Cid');
    const all = [host.c, b1.c, b2.c, c1.c];
    await poll(async () => counts(all), (n) => n.every((x) => x === 3), 10_000, 'viewer count 3 everywhere');
    await poll(
      async () => all.map((cl) => (last<{ peers: { name: string }[] }>(cl, 'participants')?.peers ?? []).map((p) => p.name).sort()),
      (lists) => lists.every((l) => l.join() === 'Bea,Bob,Cid,Host'),
      10_000,
      'the participant list of all four everywhere',
    );
    // Each node's own count stays its own (admin and metrics are per node).
    expect([a, b, c].map((n) => n.rooms.get(room)!.viewerCount)).toEqual([0, 2, 1]);

    b2.c.close();
    await poll(async () => counts([host.c, b1.c, c1.c]), (n) => n.every((x) => x === 2), 10_000, 'viewer count 2 after one left');
    // A node that shuts down takes its part with it at once.
    await c.close();
    nodes.splice(2, 1);
    await poll(async () => counts([host.c, b1.c]), (n) => n.every((x) => x === 1), 10_000, 'viewer count 1 without node C');
  });

  it('a node that stops writing (it died) drops out of the sums after three intervals', async () => {
    const link = new RedisConnection(redis.url);
    const linkDead = new RedisConnection(redis.url);
    await Promise.all([link.waitConnected(), linkDead.waitConnected()]);
    const room = (part: NodePresence) => {
      const r = { id: 'presence-2', remote: undefined as NodePresence | undefined, localPresence: () => part, setRemotePresence: (p: NodePresence) => (r.remote = p) };
      return r;
    };
    const alive = room({ viewers: 1, peers: 1, participants: undefined });
    const dead = room({ viewers: 40, peers: 40, participants: undefined });
    const pa = new ClusterPresence(link, { nodeId: 'alive', rooms: () => [alive as PresenceRoom], log: silentLog, intervalMs: 200 });
    const pd = new ClusterPresence(linkDead, { nodeId: 'dead', rooms: () => [dead as PresenceRoom], log: silentLog, intervalMs: 200 });
    try {
      await pd.tick();
      await pa.tick();
      expect(alive.remote).toEqual({ viewers: 40, peers: 40, participants: undefined });
      // "dead" never writes again and is not closed (no goodbye): it ages out.
      await new Promise((r) => setTimeout(r, 700));
      await pa.tick();
      expect(alive.remote).toEqual({ viewers: 0, peers: 0, participants: [] });
      expect(await link.client.hkeys('fourcast:presence:{presence-2}')).toEqual(['alive']);
    } finally {
      await pa.close();
      await link.close();
      await linkDead.close();
    }
  });
});
