import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

const ADMIN = 'admin-token-for-the-cluster-test-1';

interface ClusterView {
  mode: string;
  self?: string;
  redis?: { state: string };
  nodes: { id: string; wsUrl: string; httpUrl: string; rooms: { id: string; peers: number; viewers: number; publishers: number }[] }[];
}

// Two whole nodes with REDIS_URL and a Redis of the test's own: each registers itself,
// either lists both, /ready follows Redis away and back, and a closed node leaves the list.
describe('cluster membership (two nodes, real Redis)', () => {
  let redis: TestRedis;
  let a: Fourcast;
  let b: Fourcast | undefined;

  const view = async (node: Fourcast) =>
    (await (await fetch(`${node.urls.http}/admin/cluster`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as ClusterView;
  const ready = async (node: Fourcast) => {
    const res = await fetch(`${node.urls.http}/ready`);
    return { status: res.status, text: await res.text() };
  };

  beforeAll(async () => {
    redis = await startRedis();
    a = await startTestNode({ ADMIN_TOKEN: ADMIN, REDIS_URL: redis.url });
    b = await startTestNode({ ADMIN_TOKEN: ADMIN, REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await redis?.stop();
  });

  it('each node registers; either one lists both with the URLs browsers use', async () => {
    const va = await view(a);
    expect(va).toMatchObject({ mode: 'cluster', redis: { state: 'connected' } });
    expect(va.nodes.map((n) => n.id).sort()).toEqual([va.self, (await view(b!)).self].sort());
    expect(va.nodes.find((n) => n.id === va.self)).toMatchObject({ wsUrl: expect.stringMatching(/^ws:\/\/localhost:\d+\/ws$/) });
    expect((await ready(a)).status).toBe(200);
  });

  it('Redis going away degrades /ready without stopping the node; its return restores both', async () => {
    await redis.stop();
    const down = await poll(() => ready(a), (r) => r.status === 503, 15_000, '/ready to report Redis');
    expect(down.text).toMatch(/redis degraded/);
    expect(await view(a)).toMatchObject({ redis: { state: 'degraded' }, nodes: [] });
    // The node still serves: HTTP answers and the health probe is fine.
    expect((await fetch(`${a.urls.http}/health`)).status).toBe(200);
    // Redis comes back empty: both nodes register again by themselves.
    await redis.start();
    await poll(() => ready(a), (r) => r.status === 200, 20_000, '/ready back');
    await poll(async () => (await view(a)).nodes.length, (n) => n === 2, 20_000, 'both nodes registered again');
  });

  it('either node shows which node hosts what: each node’s rooms, with its part of each', async () => {
    const token = await a.tokens.mint({ role: 'publisher', room: 'hosted', name: 'Host', ttlSeconds: 600 });
    const host = await TestClient.connect(`${a.urls.ws}?room=hosted&token=${token}`);
    const fans = await Promise.all([0, 1].map(() => TestClient.connect(`${b!.urls.ws}?room=hosted`)));
    try {
      await host.request('join', {});
      await Promise.all(fans.map((f) => f.request('join', {})));
      const [selfA, selfB] = [(await view(a)).self, (await view(b!)).self];
      const rooms = await poll(
        async () => Object.fromEntries((await view(b!)).nodes.map((n) => [n.id, n.rooms.filter((r) => r.id === 'hosted')])),
        (byNode) => byNode[selfA!]?.length === 1 && byNode[selfB!]?.length === 1,
        10_000,
        'both nodes listing the room',
      );
      expect(rooms[selfA!]).toEqual([{ id: 'hosted', peers: 1, viewers: 0, publishers: 0 }]);
      expect(rooms[selfB!]).toEqual([{ id: 'hosted', peers: 2, viewers: 2, publishers: 0 }]);
    } finally {
      host.close();
      for (const f of fans) f.close();
    }
  });

  it('a node that closes leaves the list at once', async () => {
    const gone = (await view(b!)).self;
    await b!.close();
    b = undefined;
    const nodes = (await view(a)).nodes.map((n) => n.id);
    expect(nodes).not.toContain(gone);
    expect(nodes).toHaveLength(1);
  });

  it('a node without REDIS_URL says it runs alone', async () => {
    const alone = await startTestNode({ ADMIN_TOKEN: ADMIN });
    try {
      expect(await view(alone)).toEqual({ mode: 'standalone', nodes: [] });
    } finally {
      await alone.close();
    }
  });
});
