import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { freePortRange } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { audioSection, offer, videoSection } from '../helpers/sdpOffers.js';
import { startTestNode } from '../helpers/server.js';

// A cluster's WHIP encoders go where the room's stage is: a POST to another node is
// redirected (307, as RFC 9725 allows) to the origin, where it takes its slot.
describe('WHIP in a cluster (real Redis, two nodes)', () => {
  let redis: TestRedis;
  const nodes: Fourcast[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const port = await freePortRange(1);
      nodes.push(await startTestNode({ REDIS_URL: redis.url, HTTP_PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }));
    }
  });
  afterAll(async () => {
    for (const n of nodes) await n.close();
    await redis?.stop();
  });

  it('a WHIP POST to an edge is redirected to the origin node, where it goes on stage; so is a WHEP POST to a node without the stage', async () => {
    const [a, b] = nodes as [Fourcast, Fourcast];
    const room = 'whip-cluster';
    const sdp = (ssrc: number) => offer([audioSection('0', 'sendonly', ssrc), videoSection('1', 'sendonly', 'chrome', ssrc + 10)]);
    const post = (url: string, ssrc: number, token: string) =>
      fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/sdp', authorization: `Bearer ${token}` }, body: sdp(ssrc) });
    const token = (name: string) => a.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 });

    expect((await post(`${a.urls.http}/whip/${room}`, 100, await token('First'))).status).toBe(201);
    // The first broadcaster pins the room to A (through Redis); B then knows where the stage is.
    const stageNode = async () => ((await (await fetch(`${b.urls.http}/api/stage-node?room=${room}`)).json()) as { httpUrl: string | null }).httpUrl;
    await poll(stageNode, (url) => url === a.urls.http, 10_000, 'B to know the origin');
    const redirected = await post(`${b.urls.http}/whip/${room}`, 200, await token('Second'));
    expect(redirected.status).toBe(307);
    const location = redirected.headers.get('location')!;
    expect(location).toBe(`${a.urls.http}/whip/${room}`);
    expect(b.rooms.get(room)?.stage.peers.filter((p) => !p.relay).length ?? 0).toBe(0);

    const followed = await post(location, 200, await token('Second'));
    expect(followed.status).toBe(201);
    expect(a.rooms.get(room)!.stage.peers.map((p) => p.name).sort()).toEqual(['First', 'Second']);

    // A WHEP player on B, where nobody watches the room yet, is sent to the origin too.
    const player = await fetch(`${b.urls.http}/whep/${room}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/sdp' },
      body: offer([audioSection('0', 'recvonly'), videoSection('1', 'recvonly')]),
    });
    expect(player.status).toBe(307);
    expect(player.headers.get('location')).toBe(`${a.urls.http}/whep/${room}`);
  });
});
