import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { captureLog } from '../helpers/captureLog.js';
import { pageMediaOf, serverMediaOf } from '../helpers/mediaDiag.js';
import { decodingAll, goLive, openPage, peerIdOf, poll } from '../helpers/pages.js';
import { freePortRange } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestNode } from '../helpers/server.js';
import { startShippedNode, type ShippedNode } from '../helpers/shippedNode.js';

// Three nodes on loopback and one Redis of the test's own: a Chromium broadcaster on node A,
// Chromium viewers on nodes B and C. B and C get A's media through one pipe each
// (cluster/cascade.ts) and their viewers decode it; the broadcaster leaving empties every
// node's stage.
const ROOM = 'cluster-stage';

describe('a stage watched from three nodes (Chromium, real Redis)', () => {
  let redis: TestRedis;
  const nodes: Fourcast[] = [];
  const logs = [captureLog('warn'), captureLog('warn'), captureLog('warn')];
  let browser: Browser;
  const log: string[] = [];
  let pub: Page;
  let pubId: string;
  const viewers: { page: Page; node: Fourcast }[] = [];
  /** The broadcaster still live on node B when the failover test starts. */
  let liveOnB = '';

  const explain = (v: { page: Page; node: Fourcast }) => async () => {
    const id = await peerIdOf(v.page);
    return { server: id ? await serverMediaOf(v.node, ROOM, id) : 'no peer', page: await pageMediaOf(v.page), logs: logs.map((l) => l.lines.slice(-10)) };
  };

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 3; i++) {
      // The URL a node gives the cluster (and a broadcaster page moving there) is PUBLIC_URL: 127.0.0.1, not localhost.
      const port = await freePortRange(1);
      nodes.push(await startTestNode({ REDIS_URL: redis.url, HTTP_PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }, logs[i]!.log));
    }
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 30).join('\n'));
    await browser?.close();
    for (const n of nodes) await n.close();
    await redis?.stop();
  });

  it('viewers on two other nodes decode the broadcaster of node A', async () => {
    const [a, b, c] = nodes as [Fourcast, Fourcast, Fourcast];
    const token = await a.tokens.mint({ role: 'publisher', room: ROOM, name: 'Caster', ttlSeconds: 600 });
    pub = await openPage(browser, `${a.urls.http}/broadcast.html?room=${ROOM}&token=${token}&quality=low`, 'pub', log);
    pubId = await goLive(pub);

    for (const [i, node] of [b, c].entries()) viewers.push({ page: await openPage(browser, `${node.urls.http}/watch.html?room=${ROOM}&name=Edge${i}`, `viewer-${i}`, log), node });
    for (const v of viewers) {
      await poll(() => decodingAll(v.page, [pubId]), (r) => r.ok, 60_000, 'an edge viewer decoding the broadcaster of node A', explain(v));
      expect(await v.page.locator(`#stage .tile[data-peer="${pubId}"]`).count()).toBe(1);
    }
    // A chat line typed on node C's page reaches the pages of A and B with the same sequence number.
    const onC = viewers[1]!.page;
    await onC.fill('#chat-input', 'hello from node C');
    await onC.press('#chat-input', 'Enter');
    const seqOf = (p: Page) => p.locator('ul.chat li', { hasText: 'hello from node C' }).first().getAttribute('data-seq', { timeout: 15_000 });
    const seqs = await Promise.all([pub, viewers[0]!.page, onC].map(seqOf));
    expect(seqs[0]).toMatch(/^\d+$/);
    expect(new Set(seqs).size).toBe(1);
    // One pipe per edge node, on the origin: two edges, each consuming the two tracks once.
    const originRoom = a.rooms.get(ROOM)!;
    expect(originRoom.stage.peers.map((p) => p.id)).toEqual([pubId]);
    for (const n of [b, c]) {
      const relayed = n.rooms.get(ROOM)!.stage.peers;
      expect(relayed.map((p) => [p.id, p.relay, p.name])).toEqual([[pubId, true, 'Caster']]);
      expect(relayed[0]!.producers.size).toBe(2);
    }
  }, 180_000);

  it('camera off and on again on node A shows on the other nodes, and their video comes back', async () => {
    const state = (p: Page) => p.getAttribute(`#stage .tile[data-peer="${pubId}"]`, 'data-state');
    await pub.click('#mute-cam');
    for (const v of viewers) await poll(() => state(v.page), (s) => s === 'camera-off', 15_000, 'camera off on an edge');
    await pub.click('#mute-cam');
    for (const v of viewers) {
      await poll(() => state(v.page), (s) => s === 'live', 15_000, 'camera back on an edge');
      await poll(() => decodingAll(v.page, [pubId]), (r) => r.ok, 30_000, 'edge video flowing again', explain(v));
    }
  }, 120_000);

  it('the broadcaster leaving empties the stage on every node', async () => {
    await pub.context().close();
    for (const v of viewers) await poll(() => v.page.locator('#stage .tile').count(), (n) => n === 0, 20_000, 'no tile on an edge');
    for (const n of nodes) expect(n.rooms.get(ROOM)?.stage.size ?? 0).toBe(0);
  });

  it('an origin node that dies empties the other nodes’ stages; a broadcaster on another node takes the room over', async () => {
    const [a, b] = nodes as [Fourcast, Fourcast, Fourcast];
    const token = await a.tokens.mint({ role: 'publisher', room: ROOM, name: 'Second', ttlSeconds: 600 });
    const second = await openPage(browser, `${a.urls.http}/broadcast.html?room=${ROOM}&token=${token}&quality=low`, 'pub2', log);
    const secondId = await goLive(second);
    for (const v of viewers) await poll(() => decodingAll(v.page, [secondId]), (r) => r.ok, 60_000, 'edge decoding the second broadcaster', explain(v));
    // Node A goes away without a word to the others (its cascade stops first): the edges notice.
    await a.close();
    nodes.splice(0, 1);
    await second.context().close();
    for (const v of viewers) await poll(() => v.page.locator('#stage .tile').count(), (n) => n === 0, 20_000, 'the stage emptied on an edge');
    // A broadcaster arriving on node B re-pins the room there; C's viewer watches B's stage.
    const third = await openPage(browser, `${b.urls.http}/broadcast.html?room=${ROOM}&token=${await b.tokens.mint({ role: 'publisher', room: ROOM, name: 'Third', ttlSeconds: 600 })}&quality=low`, 'pub3', log);
    const thirdId = await goLive(third);
    for (const v of viewers) await poll(() => decodingAll(v.page, [thirdId]), (r) => r.ok, 60_000, 'decoding the broadcaster of node B', explain(v));

    // A co-host's link opened on node C: the page moves to node B, where the stage is, and goes live there.
    const [, c] = nodes as [Fourcast, Fourcast];
    const cohost = await openPage(browser, `${c.urls.http}/broadcast.html?room=${ROOM}&token=${await c.tokens.mint({ role: 'publisher', room: ROOM, name: 'Cohost', ttlSeconds: 600 })}&quality=low`, 'cohost', log);
    await poll(async () => cohost.url(), (u) => u.startsWith(`${b.urls.http}/broadcast.html?`), 20_000, 'the co-host page on node B');
    const cohostId = await goLive(cohost);
    expect(b.rooms.get(ROOM)!.stage.peers.some((p) => p.id === cohostId && !p.relay)).toBe(true);
    for (const v of viewers) await poll(() => decodingAll(v.page, [thirdId, cohostId]), (r) => r.ok, 60_000, 'decoding both broadcasters of node B', explain(v));
    await cohost.context().close();
    liveOnB = thirdId;
  }, 300_000);

  it('a viewer whose node goes away carries on from another node, without a reload', async () => {
    const [b, c] = nodes as [Fourcast, Fourcast];
    const v = viewers.find((x) => x.node === c)!;
    const before = await v.page.evaluate(() => performance.timeOrigin);
    await c.close();
    nodes.splice(1, 1);
    // Its page tries C a few times, then the other node it was told of at start (B), and joins there.
    await poll(() => v.page.evaluate(() => (globalThis as any).fourcast?.signaling?.currentUrl as string | undefined), (u) => u?.startsWith(b.urls.ws) === true, 30_000, 'the page on node B');
    await poll(() => decodingAll(v.page, [liveOnB]), (r) => r.ok, 60_000, 'decoding again from node B', explain({ page: v.page, node: b }));
    expect(await v.page.evaluate(() => performance.timeOrigin)).toBe(before);
  }, 120_000);
});

// The origin as shipped (`npm start`, cluster mode) killed with SIGKILL: nothing tells the
// edges; they notice its stage going silent and empty theirs, and keep serving.
describe('an origin node killed with SIGKILL (npm start, Chromium, real Redis)', () => {
  let redis: TestRedis;
  let origin: ShippedNode;
  let edge: Fourcast;
  let browser: Browser;
  const log: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const port = await freePortRange(1);
    origin = await startShippedNode({
      httpPort: port,
      env: { REDIS_URL: redis.url, PUBLIC_URL: `http://127.0.0.1:${port}`, HTTP_HOST: '127.0.0.1', WS_HOST: '127.0.0.1', RTC_LISTEN_IP: '127.0.0.1', MEDIASOUP_WORKERS: '1', STUN_URLS: 'stun:127.0.0.1:9' },
    });
    const edgePort = await freePortRange(1);
    edge = await startTestNode({ REDIS_URL: redis.url, HTTP_PORT: String(edgePort), PUBLIC_URL: `http://127.0.0.1:${edgePort}` });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 30).join('\n'));
    await browser?.close();
    await origin?.stop();
    await edge?.close();
    await redis?.stop();
  });

  it('the edge viewer watches the printed broadcaster link going live; after kill -9 the edge stage empties and the edge keeps serving', async () => {
    const link = new URL(origin.links.broadcast);
    const room = link.searchParams.get('room')!;
    const pub = await openPage(browser, origin.links.broadcast + '&quality=low', 'shipped-pub', log);
    const pubId = await goLive(pub, 30_000);
    const viewer = await openPage(browser, `${edge.urls.http}/watch.html?room=${room}&name=Edge`, 'edge-viewer', log);
    await poll(() => decodingAll(viewer, [pubId]), (r) => r.ok, 60_000, 'the edge viewer decoding the shipped origin');

    await origin.kill();
    await poll(() => viewer.locator('#stage .tile').count(), (n) => n === 0, 30_000, 'the edge stage emptied after the origin died');
    expect(edge.rooms.get(room)?.stage.size ?? 0).toBe(0);
    // The edge itself is fine: its viewer is still connected and the node answers.
    expect((await fetch(`${edge.urls.http}/ready`)).status).toBe(200);
    expect(await viewer.evaluate(() => (globalThis as any).fourcast?.stage?.online)).toBe(true);
  }, 180_000);
});

// An edge as shipped (`npm start`) killed with SIGKILL: its viewer's page carries on from the
// origin node it was told of at load, and the stage on the origin is unaffected.
describe('an edge node killed with SIGKILL (npm start, Chromium, real Redis)', () => {
  let redis: TestRedis;
  let origin: Fourcast;
  let edge: ShippedNode;
  let browser: Browser;
  const log: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const port = await freePortRange(1);
    origin = await startTestNode({ REDIS_URL: redis.url, HTTP_PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` });
    const edgePort = await freePortRange(1);
    edge = await startShippedNode({
      httpPort: edgePort,
      env: { REDIS_URL: redis.url, PUBLIC_URL: `http://127.0.0.1:${edgePort}`, HTTP_HOST: '127.0.0.1', WS_HOST: '127.0.0.1', RTC_LISTEN_IP: '127.0.0.1', MEDIASOUP_WORKERS: '1', STUN_URLS: 'stun:127.0.0.1:9' },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 30).join('\n'));
    await browser?.close();
    await edge?.stop();
    await origin?.close();
    await redis?.stop();
  });

  it('the viewer of the killed edge watches again from the origin without a reload; the origin’s stage and its own viewer carry on', async () => {
    const room = new URL(edge.links.watch).searchParams.get('room')!;
    const token = await origin.tokens.mint({ role: 'publisher', room, name: 'Caster', ttlSeconds: 600 });
    const pub = await openPage(browser, `${origin.urls.http}/broadcast.html?room=${room}&token=${token}&quality=low`, 'pub', log);
    const pubId = await goLive(pub);
    const local = await openPage(browser, `${origin.urls.http}/watch.html?room=${room}&name=Local`, 'local', log);
    // The edge's own printed watch link, opened once both nodes are registered (the page learns the live nodes at load).
    await poll(async () => ((await (await fetch(`${edge.http}/api/client-config`)).json()) as { nodes?: unknown[] }).nodes?.length ?? 0, (n) => n === 2, 20_000, 'two live nodes');
    const viewer = await openPage(browser, edge.links.watch, 'edge-viewer', log);
    await poll(() => decodingAll(viewer, [pubId]), (r) => r.ok, 60_000, 'the edge viewer decoding');
    const before = await viewer.evaluate(() => performance.timeOrigin);

    await edge.kill();
    await poll(() => viewer.evaluate(() => (globalThis as any).fourcast?.signaling?.currentUrl as string), (u) => u.startsWith(origin.urls.ws), 30_000, 'the page on the origin node');
    await poll(() => decodingAll(viewer, [pubId]), (r) => r.ok, 60_000, 'decoding again from the origin');
    expect(await viewer.evaluate(() => performance.timeOrigin)).toBe(before);
    // Unaffected: the broadcaster is still live on the origin, its local viewer still decodes.
    expect(await pub.evaluate(() => (globalThis as any).fourcast?.state?.live)).toBe(true);
    await poll(() => decodingAll(local, [pubId]), (r) => r.ok, 20_000, 'the origin’s own viewer');
  }, 240_000);
});
