import { spawnSync } from 'node:child_process';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRoutes } from '../../src/http/metrics.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

const TOKEN = 'scrape-token-for-the-int-test';

const vp8 = (ssrc: number) => ({
  mid: '0',
  codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, rtcpFeedback: [] }],
  encodings: [{ ssrc }],
  headerExtensions: [],
  rtcp: { cname: `c${ssrc}` },
});

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Polls a scrape until `pred` holds: the room layer handles socket closes asynchronously. */
async function until(scrape: () => Promise<string>, pred: (text: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let text = await scrape();
  while (!pred(text)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last scrape:\n${text.split('\n').filter((l) => l.startsWith('fourcast_')).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
    text = await scrape();
  }
  return text;
}

describe('GET /metrics against a live node (real workers, real sockets)', () => {
  let node: Fourcast;
  let app: FastifyInstance;
  let base: string;
  const clients: TestClient[] = [];
  const scrape = async () => {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    return res.text();
  };
  const connect = async (query: string) => {
    const c = await TestClient.connect(`${node.urls.ws}?${query}`);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    // Two workers and one viewer per router: two receiving viewers always need a fan-out router.
    node = await startTestNode({ MEDIASOUP_WORKERS: '2', ROUTER_MAX_VIEWERS: '1' });
    const metrics = new Metrics();
    metrics.attach({ pool: node.pool, rooms: node.rooms });
    app = Fastify();
    await app.register(metricsRoutes, { metrics, token: TOKEN });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await app?.close();
    await node?.close();
  });

  it('refuses a scrape without the token over real HTTP', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'unauthorized' });
  });

  it('reports both workers up with their resource usage', async () => {
    const t = await scrape();
    for (const w of ['0', '1']) {
      expect(sample(t, `fourcast_worker_up{worker="${w}"}`)).toBe(1);
      expect(sample(t, `fourcast_worker_cpu_ratio{worker="${w}"}`)).toBeGreaterThanOrEqual(0);
      expect(sample(t, `fourcast_worker_max_resident_memory_bytes{worker="${w}"}`)).toBeGreaterThan(1024 * 1024);
      expect(sample(t, `fourcast_worker_cpu_seconds_total{worker="${w}",mode="user"}`)).toBeGreaterThan(0);
    }
    expect(sample(t, 'fourcast_rooms')).toBe(0);
    expect(sample(t, 'fourcast_peers{role="viewer"}')).toBe(0);
  });

  it('follows peers, media objects and routers as they come and go, and passes promtool', async () => {
    const room = 'metrics-room-7q';
    const before = await scrape();
    const viewersBefore = sample(before, 'fourcast_peers{role="viewer"}')!;

    // A publisher on stage with one video producer.
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 });
    const pub = await connect(`room=${room}&token=${token}`);
    const pubJoin = await pub.request('join', {});
    const send = await pub.request('createTransport', { direction: 'send' });
    const { producerId } = await pub.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8(1111), source: 'camera' });

    // Three anonymous viewers: peers{role="viewer"} climbs with each join.
    const viewers: TestClient[] = [];
    const viewerIds: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const v = await connect(`room=${room}`);
      viewerIds.push((await v.request('join', {})).peerId);
      viewers.push(v);
      expect(sample(await scrape(), 'fourcast_peers{role="viewer"}')).toBe(viewersBefore + i);
    }

    // Two of them receive the producer, on two routers (one is a fan-out router on the other worker).
    for (const v of viewers.slice(0, 2)) {
      await v.request('createTransport', { direction: 'recv' });
      await v.request('setRtpCapabilities', { rtpCapabilities: pubJoin.routerRtpCapabilities as never });
      await v.request('consume', { producerId });
    }

    const busy = await scrape();
    expect(sample(busy, 'fourcast_rooms')).toBe(1);
    expect(sample(busy, 'fourcast_peers{role="publisher"}')).toBe(1);
    expect(sample(busy, 'fourcast_publishers')).toBe(1);
    expect(sample(busy, 'fourcast_producers{kind="video"}')).toBe(1);
    expect(sample(busy, 'fourcast_producers{kind="audio"}')).toBe(0);
    expect(sample(busy, 'fourcast_fanout_routers')).toBe(1);
    // One router per worker for this room; consumers: one per viewer plus the pipe consumer feeding the fan-out router.
    expect(sample(busy, 'fourcast_routers{worker="0"}')! + sample(busy, 'fourcast_routers{worker="1"}')!).toBe(2);
    const consumers = sample(busy, 'fourcast_consumers{worker="0"}')! + sample(busy, 'fourcast_consumers{worker="1"}')!;
    expect(consumers).toBe(3);
    // Room names and peer ids never become labels.
    expect(busy).not.toContain(room);
    expect(busy).not.toContain(pubJoin.peerId);
    for (const id of viewerIds) expect(busy).not.toContain(id);

    const lint = spawnSync('promtool', ['check', 'metrics'], { input: busy, encoding: 'utf8' });
    if (lint.error) throw new Error(`promtool not runnable (${lint.error.message}); install it with: apt-get install -y prometheus`);
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.status).toBe(0);

    // Viewers leave: the gauge comes back down without anyone decrementing a counter.
    for (const v of viewers) v.close();
    await until(scrape, (t) => sample(t, 'fourcast_peers{role="viewer"}') === viewersBefore, 'viewers to leave');
    const afterViewers = await scrape();
    expect(sample(afterViewers, 'fourcast_peers{role="publisher"}')).toBe(1);

    // The publisher leaves; the room closes after its grace period (1 s in tests) with its routers.
    pub.close();
    const empty = await until(scrape, (t) => sample(t, 'fourcast_rooms') === 0, 'the empty room to close');
    expect(sample(empty, 'fourcast_peers{role="publisher"}')).toBe(0);
    expect(sample(empty, 'fourcast_producers{kind="video"}')).toBe(0);
    expect(sample(empty, 'fourcast_fanout_routers')).toBe(0);
    expect(sample(empty, 'fourcast_consumers{worker="0"}')! + sample(empty, 'fourcast_consumers{worker="1"}')!).toBe(0);
    expect(sample(empty, 'fourcast_routers{worker="0"}')! + sample(empty, 'fourcast_routers{worker="1"}')!).toBe(0);
  });
});
