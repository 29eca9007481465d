import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

const ADMIN = 'admin-token-for-the-cluster-ban-test';

// Two whole nodes on one Redis: a ban made on one node holds on the other, both for the
// banned person's connections already open there and for new ones, and outlives a node
// restart; lifting it through the admin API of either node lets them back everywhere.
describe('bans across a cluster (two nodes, real Redis)', () => {
  let redis: TestRedis;
  let a: Fourcast;
  let b: Fourcast;
  const clients: TestClient[] = [];

  const connect = async (node: Fourcast, room: string, token?: string) => {
    const c = await TestClient.connect(`${node.urls.ws}?room=${room}${token ? `&token=${token}` : ''}`);
    clients.push(c);
    const info = await c.request('join', {});
    return { c, info };
  };
  const refusal = (node: Fourcast, room: string, token: string) =>
    TestClient.connect(`${node.urls.ws}?room=${room}&token=${token}`).then(
      (c) => (c.close(), 'open'),
      (e: { status?: number }) => e.status,
    );

  beforeAll(async () => {
    redis = await startRedis();
    a = await startTestNode({ ADMIN_TOKEN: ADMIN, REDIS_URL: redis.url });
    b = await startTestNode({ ADMIN_TOKEN: ADMIN, REDIS_URL: redis.url });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await b?.close();
    await a?.close();
    await redis?.stop();
  });

  it('a ban on node A closes the person’s connection on node B and refuses them on both; others stay', async () => {
    const room = 'ban-room';
    const host = await connect(a, room, await a.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 }));
    const troll = await a.tokens.mint({ role: 'viewer', room, name: 'Troll', ttlSeconds: 600 });
    const fan = await a.tokens.mint({ role: 'viewer', room, name: 'Fan', ttlSeconds: 600 });
    const trollOnA = await connect(a, room, troll);
    const trollOnB = await connect(b, room, troll);
    const fanOnB = await connect(b, room, fan);

    await host.c.request('ban', { peerId: trollOnA.info.peerId });
    expect((await trollOnA.c.closed).code).toBe(4003);
    // B hears of it from Redis and closes its own connection of that token, with the final code.
    const closedOnB = await trollOnB.c.closed;
    expect(closedOnB.code).toBe(4003);
    expect(trollOnB.c.notifications).toContainEqual({ method: 'closing', data: expect.objectContaining({ code: 'banned' }) });
    expect(await refusal(b, room, troll)).toBe(403);
    expect(await refusal(a, room, troll)).toBe(403);
    // Another token holder behind the same address is judged by its token: still in.
    expect(b.rooms.get(room)!.peers.has(fanOnB.info.peerId)).toBe(true);

    // Either node lists it; lifting it on B lets the token back on A.
    const list = (await (await fetch(`${b.urls.http}/admin/bans`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { bans: { kind: string; key: string }[] };
    const tokenBan = list.bans.find((x) => x.kind === 'token')!;
    expect(tokenBan).toBeDefined();
    const lift = await fetch(`${b.urls.http}/admin/rooms/${room}/bans/token/${encodeURIComponent(tokenBan.key)}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(lift.status).toBe(200);
    await poll(() => refusal(a, room, troll), (s) => s === 'open', 10_000, 'the lifted token admitted on A');
  });

  it('a host removes a chat author on another node: kick and ban go to the node that holds them, which judges them', async () => {
    const room = 'kick-room';
    const host = await connect(a, room, await a.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 }));
    const otherHost = await connect(b, room, await a.tokens.mint({ role: 'publisher', room, name: 'Cohost', ttlSeconds: 600 }));
    const viewerOnA = await connect(a, room);
    const loud = await connect(b, room, await a.tokens.mint({ role: 'viewer', room, name: 'Loud', ttlSeconds: 600 }));
    const rude = await connect(b, room, await a.tokens.mint({ role: 'viewer', room, name: 'Rude', ttlSeconds: 600 }));
    const line = await loud.c.request('chatSend', { text: 'spam' });
    const seen = await host.c.waitFor('chatMessage', (m) => m.id === line.id);
    expect(seen.peerId).toBe(loud.info.peerId);

    // Not a moderator: refused where it is asked, whatever node holds the target.
    await expect(viewerOnA.c.request('kick', { peerId: loud.info.peerId })).rejects.toMatchObject({ code: 'forbidden' });
    // A broadcaster may not remove another broadcaster: B refuses it, the co-host stays.
    await host.c.request('kick', { peerId: otherHost.info.peerId });
    // The host removes the chat author by the id its line carries.
    await host.c.request('kick', { peerId: loud.info.peerId });
    expect((await loud.c.closed).code).toBe(4001);
    await host.c.request('ban', { peerId: rude.info.peerId, reason: 'rude' });
    expect((await rude.c.closed).code).toBe(4003);
    expect(rude.c.notifications).toContainEqual({ method: 'closing', data: { code: 'banned', reason: 'rude' } });
    // The ban is B's to make (it knows the token) and reaches A through Redis.
    const rudeToken = (await b.rooms.bans.list(room)).find((x) => x.kind === 'token');
    expect(rudeToken).toBeDefined();
    await poll(async () => a.rooms.bans.list(room).some((x) => x.kind === 'token' && x.key === rudeToken!.key), (ok) => ok, 10_000, 'the ban on node A');
    expect(b.rooms.get(room)!.peers.has(otherHost.info.peerId)).toBe(true);
  });

  it('a ban outlives the node that made it: a restarted node loads it from Redis', async () => {
    const room = 'ban-room-2';
    const host = await connect(a, room, await a.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 }));
    const troll = await a.tokens.mint({ role: 'viewer', room, name: 'Troll', ttlSeconds: 600 });
    const t = await connect(a, room, troll);
    await host.c.request('ban', { peerId: t.info.peerId });
    await t.c.closed;
    await a.close();
    a = await startTestNode({ ADMIN_TOKEN: ADMIN, REDIS_URL: redis.url });
    await poll(() => refusal(a, room, troll), (s) => s === 403, 10_000, 'the restarted node refusing the banned token');
  });
});
