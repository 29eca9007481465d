import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { freePortRange } from '../helpers/ports.js';
import { RedisConnection } from '../../src/cluster/redis.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { opus, vp8 } from '../helpers/rtpParameters.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';
import { startVp8Source, type RtpSource } from '../helpers/ffmpeg.js';
import { AdminClient } from '../../loadtest/media/bots.js';

// The cascade's control side with real nodes, sockets and workers (media itself is decoded by
// Chromium in test/e2e/cluster.e2e.test.ts): who is the origin, what the edges mirror, one
// pipe consumer per producer per edge, and broadcasters sent to the origin.
describe('media cascade between nodes (real Redis, real workers)', () => {
  let redis: TestRedis;
  const nodes: Fourcast[] = [];
  const clients: TestClient[] = [];
  const connect = async (node: Fourcast, q: string) => {
    const c = await TestClient.connect(`${node.urls.ws}?${q}`);
    clients.push(c);
    return c;
  };
  const publisher = async (node: Fourcast, room: string, name: string) => {
    const c = await connect(node, `room=${room}&token=${await node.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 })}`);
    const info = await c.request('join', {});
    const send = await c.request('createTransport', { direction: 'send' });
    return { c, info, send };
  };
  /** Consumers on the room's origin router, as its worker reports them (here: the pipe consumers to the edges). */
  const originConsumers = async (node: Fourcast, room: string) => {
    const dump = await (await node.rooms.get(room)!.media.origin()).router.dump();
    return dump.mapProducerIdConsumerIds.reduce((n, e) => n + e.values.length, 0);
  };

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 3; i++) {
      const port = await freePortRange(1);
      nodes.push(await startTestNode({ REDIS_URL: redis.url, HTTP_PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }));
    }
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const n of nodes) await n.close();
    await redis?.stop();
  });

  it('edges mirror the origin’s stage with relays, each through one pipe consumer per producer', async () => {
    const [a, b, c] = nodes as [Fourcast, Fourcast, Fourcast];
    const room = 'cascade-1';
    const pub = await publisher(a, room, 'Caster');
    const cam = await pub.c.request('produce', { transportId: pub.send.transportId, kind: 'video', rtpParameters: vp8(5001), source: 'camera' });
    const mic = await pub.c.request('produce', { transportId: pub.send.transportId, kind: 'audio', rtpParameters: opus(5002), source: 'mic' });
    // Viewers on B (two) and C (one): each edge pipes each track once, whatever its audience.
    const edgeViewers = [await connect(b, `room=${room}`), await connect(b, `room=${room}`), await connect(c, `room=${room}`)];
    for (const v of edgeViewers) await v.request('join', {});
    for (const v of edgeViewers) {
      const np = await v.waitFor('newProducer', (p) => p.kind === 'video', 15_000);
      expect(np.peerId).toBe(pub.info.peerId);
    }
    for (const n of [b, c]) {
      const relays = n.rooms.get(room)!.stage.peers;
      expect(relays.map((p) => [p.id, p.relay, p.producers.size])).toEqual([[pub.info.peerId, true, 2]]);
    }
    // Operators see it: the edges count one relayed broadcaster, the origin none (with its node label).
    for (const [n, relayed] of [[a, 0], [b, 1], [c, 1]] as const) {
      expect(await (await fetch(`${n.urls.http}/metrics`)).text()).toMatch(new RegExp(`^fourcast_relayed_publishers\\{node="[^"]+"\\} ${relayed}$`, 'm'));
    }
    // On the origin: the publisher's producers, each consumed once per edge (no viewer there).
    expect(await originConsumers(a, room)).toBe(4);
    // Edge viewers consume the relayed tracks like local ones; and the join answer lists the broadcaster.
    const late = await connect(c, `room=${room}`);
    const joined = await late.request('join', {});
    expect(joined.publishers.map((p) => [p.peerId, p.name, p.producers.length])).toEqual([[pub.info.peerId, 'Caster', 2]]);
    await late.request('setRtpCapabilities', { rtpCapabilities: joined.routerRtpCapabilities as never });
    await late.request('createTransport', { direction: 'recv' });
    for (const p of joined.publishers[0]!.producers) expect((await late.request('consume', { producerId: p.producerId })).peerId).toBe(pub.info.peerId);

    // Pause and close cross over.
    await pub.c.request('pauseProducer', { producerId: mic.producerId });
    await late.waitFor('producerPaused', (d) => d.peerId === pub.info.peerId, 10_000);
    await pub.c.request('closeProducer', { producerId: cam.producerId });
    await late.waitFor('producerClosed', (d) => d.peerId === pub.info.peerId, 10_000);
    expect(await originConsumers(a, room)).toBe(2);
    // Presence: the relays are not counted twice.
    await poll(async () => late.notifications.filter((n) => n.method === 'viewerCount').at(-1)?.data as { count: number } | undefined, (d) => d?.count === 4, 10_000, 'four viewers in all');
  });

  it('an edge room closes when its last viewer leaves, relays or not, and the origin drops its pipe', async () => {
    const [a, b] = nodes as [Fourcast, Fourcast, Fourcast];
    const room = 'cascade-3';
    const pub = await publisher(a, room, 'Caster');
    await pub.c.request('produce', { transportId: pub.send.transportId, kind: 'audio', rtpParameters: opus(7001), source: 'mic' });
    const v = await connect(b, `room=${room}`);
    await v.request('join', {});
    await v.waitFor('newProducer', () => true, 15_000);
    expect(await originConsumers(a, room)).toBe(1);
    v.close();
    await poll(async () => b.rooms.get(room)?.isEmpty, (empty) => empty === true, 5_000, 'the edge room without people');
    // A broadcaster joining the origin's stage during the grace period relays a new peer onto B:
    // that must not cancel the closing (ROOM_GRACE_SECONDS is 1 in tests).
    const second = await publisher(a, room, 'Second');
    await second.c.request('produce', { transportId: second.send.transportId, kind: 'audio', rtpParameters: opus(7002), source: 'mic' });
    await poll(async () => b.rooms.get(room), (r) => r === undefined, 10_000, 'the edge room closed');
    await poll(() => originConsumers(a, room), (n) => n === 0, 10_000, 'the origin’s pipe consumers gone');
    await new Promise((r) => setTimeout(r, 2500));
    expect(b.rooms.get(room)).toBeUndefined();
  });

  it('a broadcaster page asks where the stage is; two going live on two nodes at once: the second is sent to the first', async () => {
    const [a, b] = nodes as [Fourcast, Fourcast, Fourcast];
    const room = 'cascade-2';
    const stageNode = async (n: Fourcast) => ((await (await fetch(`${n.urls.http}/api/stage-node?room=${room}`)).json()) as { httpUrl: string | null }).httpUrl;
    expect(await stageNode(a)).toBeNull();
    expect((await fetch(`${a.urls.http}/api/stage-node?room=../x`)).status).toBe(400);
    const first = await publisher(a, room, 'First');
    await first.c.request('produce', { transportId: first.send.transportId, kind: 'audio', rtpParameters: opus(6001), source: 'mic' });
    await poll(() => stageNode(b), (u) => u === a.urls.http, 10_000, 'node B pointing at node A');
    expect(await stageNode(a)).toBeNull(); // A is the stage: stay
    // A second broadcaster that connected to B anyway (its page asked before A pinned) and goes live there.
    const second = await publisher(b, room, 'Second');
    await second.c.request('produce', { transportId: second.send.transportId, kind: 'audio', rtpParameters: opus(6002), source: 'mic' });
    expect(await second.c.waitFor('stageMoved', () => true, 10_000)).toEqual({ httpUrl: a.urls.http });
  });

  it('malformed messages on the cascade channels are dropped; the nodes carry on', async () => {
    const [a, b] = nodes as [Fourcast, Fourcast, Fourcast];
    const room = 'cascade-5';
    const pub = await publisher(a, room, 'Caster');
    await pub.c.request('produce', { transportId: pub.send.transportId, kind: 'audio', rtpParameters: opus(9001), source: 'mic' });
    const v = await connect(b, `room=${room}`);
    await v.request('join', {});
    await v.waitFor('newProducer', () => true, 15_000);
    const raw = new RedisConnection(redis.url);
    try {
      await raw.waitConnected();
      const ids = await raw.client.smembers('fourcast:nodes');
      for (const id of ids) {
        for (const junk of ['not json', '{"type":"pipe","id":"1","from":"../../x","room":"r","ip":"1","port":1,"producerIds":[]}', '{"type":"release","from":"x y","room":"r"}', '{"type":"piped"}']) {
          await raw.publish(`fourcast:rpc:${id}`, junk);
        }
      }
      for (const junk of ['[]', '{"origin":"a b","publishers":[]}', '{"origin":"n","publishers":[{"peerId":"p","name":"","producers":[]}]}']) await raw.publish(`fourcast:stage:{${room}}`, junk);
      await new Promise((r) => setTimeout(r, 500));
      for (const n of [a, b]) expect((await fetch(`${n.urls.http}/ready`)).status).toBe(200);
      expect(b.rooms.get(room)!.stage.peers.map((p) => p.id)).toEqual([pub.info.peerId]);
    } finally {
      await raw.close();
    }
  });

  it('an edge that lets go while its pipe is still being opened leaves no pipe behind on the origin', async () => {
    const [a, , c] = nodes as [Fourcast, Fourcast, Fourcast];
    const room = 'cascade-6';
    const pub = await publisher(a, room, 'Caster');
    const mic = await pub.c.request('produce', { transportId: pub.send.transportId, kind: 'audio', rtpParameters: opus(9501), source: 'mic' });
    const raw = new RedisConnection(redis.url);
    const sink = dgram.createSocket('udp4');
    try {
      await raw.waitConnected();
      await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
      const aId = await poll(() => raw.client.get(`fourcast:room:{${room}}:origin`), (v) => v !== null, 10_000, 'the room pinned');
      // The request comes "from" node C, a live node (so the origin's dead-edge sweep keeps it).
      const ids = await raw.client.smembers('fourcast:nodes');
      const cId = (await Promise.all(ids.map(async (id) => [id, JSON.parse((await raw.client.get(`fourcast:node:${id}`)) ?? '{}') as { httpUrl?: string }] as const))).find(([, n]) => n.httpUrl === c.urls.http)![0];
      const edges = () => a.rooms.get(room)!.media.describeRouters().reduce((n, r) => n + r.edges, 0);
      // Pipelined: a pipe request and, before the origin could open it, the release.
      const pipe = { type: 'pipe', id: 'attack-1', from: cId, room, ip: '127.0.0.1', port: sink.address().port, producerIds: [mic.producerId] };
      await Promise.all([raw.publish(`fourcast:rpc:${aId}`, JSON.stringify(pipe)), raw.publish(`fourcast:rpc:${aId}`, JSON.stringify({ type: 'release', from: cId, room }))]);
      // Past the origin's next sweep of dead edges (2 s): nothing was left open for C.
      await new Promise((r) => setTimeout(r, 3000));
      expect(edges()).toBe(0);
      expect(await originConsumers(a, room)).toBe(0);
      // And a request that is not let go does open (the attack above proved something).
      await raw.publish(`fourcast:rpc:${aId}`, JSON.stringify({ ...pipe, id: 'attack-2' }));
      await poll(async () => edges(), (n) => n === 1, 5_000, 'the pipe opened for C');
      await raw.publish(`fourcast:rpc:${aId}`, JSON.stringify({ type: 'release', from: cId, room }));
      await poll(async () => edges(), (n) => n === 0, 5_000, 'the pipe released');
    } finally {
      sink.close();
      await raw.close();
    }
  });

  it('an origin that loses its pin (it expired while Redis was away, another node took it) stops being the origin and sends its broadcasters over', async () => {
    const [a, b] = nodes as [Fourcast, Fourcast, Fourcast];
    const room = 'cascade-4';
    const pub = await publisher(a, room, 'Caster');
    await pub.c.request('produce', { transportId: pub.send.transportId, kind: 'audio', rtpParameters: opus(8001), source: 'mic' });
    const raw = new RedisConnection(redis.url);
    try {
      await raw.waitConnected();
      const key = `fourcast:room:{${room}}:origin`;
      const aId = await poll(() => raw.client.get(key), (v) => v !== null, 10_000, 'the room pinned');
      const bId = (await raw.client.smembers('fourcast:nodes')).find((id) => id !== aId && id.length > 0)!;
      const bNode = JSON.parse((await raw.client.get(`fourcast:node:${bId}`))!) as { httpUrl: string };
      // Another node holds the pin now (as after A's pin expired during an outage).
      await raw.client.set(key, bId, 'PX', 60_000);
      expect(await pub.c.waitFor('stageMoved', () => true, 15_000)).toEqual({ httpUrl: bNode.httpUrl });
      expect([a.urls.http, b.urls.http, nodes[2]!.urls.http]).toContain(bNode.httpUrl);
    } finally {
      await raw.close();
    }
  });
});

/**
 * An origin and two one-worker edges on a Redis of their own, for one describe block; the
 * origin gets `originEnv` on top. `sources` and `clients` are stopped and closed after it.
 */
function threeNodes(admin: string, originEnv: Record<string, string>) {
  const f = { nodes: [] as Fourcast[], clients: [] as TestClient[], sources: [] as RtpSource[], redis: undefined as TestRedis | undefined };
  beforeAll(async () => {
    const redis = (f.redis = await startRedis());
    const env = { REDIS_URL: redis.url, MEDIASOUP_WORKERS: '1', ADMIN_TOKEN: admin };
    f.nodes.push(await startTestNode({ ...env, ...originEnv }));
    for (let i = 0; i < 2; i++) f.nodes.push(await startTestNode(env));
  });
  afterAll(async () => {
    for (const src of f.sources) await src.stop();
    for (const c of f.clients) c.close();
    for (const n of f.nodes) await n.close();
    await f.redis?.stop();
  });
  return f;
}

// One origin worker feeds a limited number of edge pipes (bench/results/cascade-*.md): the
// origin places each edge like a viewer, on its least-loaded worker with room left, so a
// room's edges spread over all its workers. Real VP8 from ffmpeg goes in through the RTP ingest.
describe('edge pipes spread over the origin’s workers (real Redis, real RTP)', () => {
  const ADMIN = 'admin-token-for-the-edge-spread-test';
  const room = 'spread-1';
  // The origin: two workers, one receiver per router before the next worker takes over.
  const { nodes, clients, sources } = threeNodes(ADMIN, { MEDIASOUP_WORKERS: '2', ROUTER_MAX_VIEWERS: '1' });

  /** Packets the edge's relayed video producer has received from its pipe (mediasoup's counter). */
  const relayedPackets = async (edge: Fourcast) => {
    const relay = edge.rooms.get(room)?.stage.peers[0];
    const producer = relay ? [...relay.producers.values()].find((p) => !p.producer.closed)?.producer : undefined;
    const stats = producer ? await producer.getStats().catch(() => []) : [];
    return { producerId: producer?.id, packets: stats.reduce((n, s) => n + s.packetCount, 0) };
  };
  const flowing = async (edge: Fourcast, what: string) => {
    const first = await poll(() => relayedPackets(edge), (r) => r.packets > 0, 15_000, `${what}: relayed video arriving`);
    return poll(() => relayedPackets(edge), (r) => r.producerId === first.producerId && r.packets > first.packets + 20, 10_000, `${what}: relayed video still arriving`);
  };

  it('two edges get pipes on two different workers of the origin; a dead worker’s edge pipes again', async () => {
    const [a, b, c] = nodes as [Fourcast, Fourcast, Fourcast];
    const admin = new AdminClient(a.urls.http, ADMIN);
    const ingest = await admin.startIngest(room, { kind: 'video', name: 'Camera', payloadType: 101, ssrc: 0x2468, codec: 'VP8' });
    sources.push(startVp8Source({ rtpPort: ingest.rtpPort, rtcpPort: ingest.rtcpPort, ssrc: 0x2468, payloadType: 101 }));
    for (const edge of [b, c]) {
      const v = await TestClient.connect(`${edge.urls.ws}?room=${room}`);
      clients.push(v);
      await v.request('join', {});
      await v.waitFor('newProducer', () => true, 15_000);
    }
    // On the origin: one edge pipe per worker, each router fed the track.
    const routers = () => a.rooms.get(room)!.media.describeRouters();
    await poll(async () => routers(), (r) => r.length === 2 && r.every((x) => x.edges === 1), 10_000, 'one edge pipe on each of the origin’s two workers');
    const before = { b: await flowing(b, 'edge B'), c: await flowing(c, 'edge C') };

    // Kill the worker that only carries an edge's pipe (not the broadcaster's): that edge pipes again.
    const fanOut = routers().find((r) => !r.origin)!;
    const edgeRouter = a.rooms.get(room)!.media.all().find((rr) => rr.workerIndex === fanOut.worker)!;
    process.kill(edgeRouter.worker.pid, 'SIGKILL');
    const hit = await poll(
      async () => [await relayedPackets(b), await relayedPackets(c)],
      ([rb, rc]) => rb!.producerId !== before.b.producerId || rc!.producerId !== before.c.producerId,
      15_000,
      'one edge re-piped (a new relayed producer)',
    );
    const [moved, kept] = hit[0]!.producerId !== before.b.producerId ? [b, c] : [c, b];
    expect((await relayedPackets(kept)).producerId).toBe((kept === b ? before.b : before.c).producerId);
    await flowing(moved, 'the re-piped edge');
    await flowing(kept, 'the other edge');
    // The origin counts both edges again, on live routers.
    await poll(async () => routers().reduce((n, r) => n + r.edges, 0), (n) => n === 2, 10_000, 'both edges counted on the origin');
  }, 90_000);
});

describe('the origin’s packet budget and edge pipes (real Redis, real workers)', () => {
  const ADMIN = 'admin-token-for-the-edge-budget-test';
  const room = 'budget-edges';
  // The origin's one worker has room for one receiver; the edges have plenty.
  const { nodes, clients, sources } = threeNodes(ADMIN, { WORKER_MAX_PACKET_RATE: '400', VIEWER_PACKET_RATE: '400' });

  it('edge pipes are placed past the budget (each carries a whole node’s audience); the origin’s own viewers are refused first', async () => {
    const [a, b, c] = nodes as [Fourcast, Fourcast, Fourcast];
    const admin = new AdminClient(a.urls.http, ADMIN);
    const ingest = await admin.startIngest(room, { kind: 'video', name: 'Camera', payloadType: 101, ssrc: 0x1470, codec: 'VP8' });
    sources.push(startVp8Source({ rtpPort: ingest.rtpPort, rtcpPort: ingest.rtcpPort, ssrc: 0x1470, payloadType: 101 }));
    // A local viewer on the origin takes the only slot of its budget.
    const local = await TestClient.connect(`${a.urls.ws}?room=${room}`);
    clients.push(local);
    await local.request('join', {});
    await local.request('createTransport', { direction: 'recv' });
    const worker = a.pool.workers[0]!;
    expect(worker.viewers).toBe(1);
    // Two edges still get their pipes, and their viewers the relayed stage.
    for (const edge of [b, c]) {
      const v = await TestClient.connect(`${edge.urls.ws}?room=${room}`);
      clients.push(v);
      await v.request('join', {});
      await v.waitFor('newProducer', () => true, 15_000);
    }
    await poll(async () => a.rooms.get(room)!.media.describeRouters().reduce((n, r) => n + r.edges, 0), (n) => n === 2, 10_000, 'two edge pipes on the origin');
    expect(worker.viewers).toBe(3);
    expect(a.pool.budgetUsed(worker)).toBe(3);
    // A second local viewer is refused: the budget is spent (by the viewer and, past it, the edges).
    const late = await TestClient.connect(`${a.urls.ws}?room=${room}`);
    clients.push(late);
    await late.request('join', {});
    await expect(late.request('createTransport', { direction: 'recv' })).rejects.toMatchObject({ code: 'server-busy' });
  }, 60_000);
});
