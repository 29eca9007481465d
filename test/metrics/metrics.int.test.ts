import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes } from '../../src/protocol/messages.js';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';
import { vp8 } from '../helpers/rtpParameters.js';

const TOKEN = 'scrape-token-for-the-int-test';

/** The value of one exposition sample, e.g. `fourcast_peers{role="viewer"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Like `sample`, but a missing series fails the test instead of turning into NaN arithmetic. */
function value(text: string, series: string): number {
  const v = sample(text, series);
  if (v === undefined) throw new Error(`no sample ${series} in the scrape:\n${text.split('\n').filter((l) => l.startsWith('fourcast_')).join('\n')}`);
  return v;
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

// The node's own GET /metrics over HTTP (METRICS_TOKEN set), while real clients
// use it: WebSocket peers join, publish, consume, chat and make mistakes.
describe('GET /metrics of a running node (real workers, real sockets, real HTTP)', () => {
  let node: Fourcast;
  const clients: TestClient[] = [];
  const scrape = async () => {
    const res = await fetch(`${node.urls.http}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  const connect = async (query: string) => {
    const c = await TestClient.connect(`${node.urls.ws}?${query}`);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    // Two workers and one viewer per router: two receiving viewers always need a fan-out router.
    node = await startTestNode({ MEDIASOUP_WORKERS: '2', ROUTER_MAX_VIEWERS: '1', METRICS_TOKEN: TOKEN });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await node?.close();
  });

  it('refuses a scrape without the token, or with a wrong one', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-the-metrics-token-at-all' }]) {
      const res = await fetch(`${node.urls.http}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.json()).toMatchObject({ error: 'unauthorized' });
    }
  });

  it('reports both workers up with their resource usage, and an idle node', async () => {
    const t = await scrape();
    for (const w of ['0', '1']) {
      expect(sample(t, `fourcast_worker_up{worker="${w}"}`)).toBe(1);
      expect(sample(t, `fourcast_worker_cpu_ratio{worker="${w}"}`)).toBeGreaterThanOrEqual(0);
      expect(sample(t, `fourcast_worker_max_resident_memory_bytes{worker="${w}"}`)).toBeGreaterThan(1024 * 1024);
      // Milliseconds from getrusage: a worker that started quickly can show 0 ms of user time
      // (its start is mostly system time), never 0 of both.
      const user = sample(t, `fourcast_worker_cpu_seconds_total{worker="${w}",mode="user"}`);
      const system = sample(t, `fourcast_worker_cpu_seconds_total{worker="${w}",mode="system"}`);
      expect(user).toBeGreaterThanOrEqual(0);
      expect((user ?? 0) + (system ?? 0)).toBeGreaterThan(0);
      expect(sample(t, `fourcast_consumers{worker="${w}"}`)).toBe(0);
    }
    expect(sample(t, 'fourcast_worker_deaths_total')).toBe(0);
    expect(sample(t, 'fourcast_rooms')).toBe(0);
    expect(sample(t, 'fourcast_peers{role="viewer"}')).toBe(0);
    expect(sample(t, 'fourcast_peers{role="publisher"}')).toBe(0);
    expect(sample(t, 'fourcast_ws_connections')).toBe(0);
    expect(sample(t, 'fourcast_chat_messages_total{direction="in"}')).toBe(0);
    expect(sample(t, 'fourcast_chat_messages_total{direction="out"}')).toBe(0);
    expect(sample(t, 'fourcast_join_to_first_frame_seconds_count')).toBe(0);
    for (const code of errorCodes) expect(sample(t, `fourcast_protocol_errors_total{code="${code}"}`), code).toBe(0);
  });

  it('follows connections, peers, chat, errors, media objects and routers as they come and go, and passes promtool', async () => {
    const room = 'metrics-room-7q';

    // A publisher on stage with one video producer.
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 });
    const pub = await connect(`room=${room}&token=${token}`);
    const pubJoin = await pub.request('join', {});
    const send = await pub.request('createTransport', { direction: 'send' });
    const { producerId } = await pub.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8(1111), source: 'camera' });
    const afterPub = await until(scrape, (t) => sample(t, 'fourcast_ws_connections') === 1, 'one connection');
    expect(value(afterPub, 'fourcast_peers{role="publisher"}')).toBe(1);
    expect(value(afterPub, 'fourcast_peers{role="viewer"}')).toBe(0);

    // Three anonymous viewers: connections and peers{role="viewer"} climb with each join.
    const viewers: TestClient[] = [];
    const viewerIds: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const v = await connect(`room=${room}`);
      viewerIds.push((await v.request('join', {})).peerId);
      viewers.push(v);
      const t = await until(scrape, (x) => sample(x, 'fourcast_ws_connections') === 1 + i, `${1 + i} connections`);
      expect(value(t, 'fourcast_peers{role="viewer"}')).toBe(i);
      expect(value(t, 'fourcast_peers{role="publisher"}')).toBe(1);
    }

    // Two of them receive the producer, on two routers (one is a fan-out router on the other worker).
    for (const v of viewers.slice(0, 2)) {
      await v.request('createTransport', { direction: 'recv' });
      await v.request('setRtpCapabilities', { rtpCapabilities: pubJoin.routerRtpCapabilities as never });
      await v.request('consume', { producerId });
    }

    // One chat message, delivered to the four people in the room.
    const before = await scrape();
    await pub.request('chatSend', { text: 'hello, metrics' });
    for (const v of viewers) await v.waitFor('chatMessage', (m) => m.text === 'hello, metrics');
    // Mistakes: a frame that is not JSON, a viewer asking to publish; a reported first frame.
    const errorsSeen = viewers[2]!.orphanErrors.length;
    viewers[2]!.raw('{not json');
    await poll(async () => viewers[2]!.orphanErrors.length, (n) => n > errorsSeen, 5000, 'the bad-request answer');
    expect(await errorCode(viewers[2]!.request('createTransport', { direction: 'send' }))).toBe('forbidden');
    await viewers[0]!.request('reportFirstFrame', { milliseconds: 420 });
    // A chat line over CHAT_MAX_LENGTH is refused: a dropped message, by reason.
    expect(await errorCode(viewers[1]!.request('chatSend', { text: 'x'.repeat(501) }))).toBe('too-large');

    const busy = await scrape();
    const delta = (series: string) => value(busy, series) - value(before, series);
    expect(delta('fourcast_chat_messages_total{direction="in"}')).toBe(1);
    expect(delta('fourcast_chat_messages_total{direction="out"}')).toBe(4);
    expect(delta('fourcast_protocol_errors_total{code="bad-request"}')).toBe(1);
    expect(delta('fourcast_protocol_errors_total{code="forbidden"}')).toBe(1);
    expect(delta('fourcast_protocol_errors_total{code="too-large"}')).toBe(1);
    expect(delta('fourcast_chat_messages_dropped_total{reason="too-large"}')).toBe(1);
    for (const code of errorCodes.filter((c) => c !== 'bad-request' && c !== 'forbidden' && c !== 'too-large')) expect(delta(`fourcast_protocol_errors_total{code="${code}"}`), code).toBe(0);
    expect(delta('fourcast_join_to_first_frame_seconds_count')).toBe(1);
    expect(delta('fourcast_join_to_first_frame_seconds_sum')).toBeCloseTo(0.42, 6);
    expect(delta('fourcast_join_to_first_frame_seconds_bucket{le="0.25"}')).toBe(0);
    expect(delta('fourcast_join_to_first_frame_seconds_bucket{le="0.5"}')).toBe(1);
    expect(delta('fourcast_join_to_first_frame_seconds_bucket{le="+Inf"}')).toBe(1);

    expect(value(busy, 'fourcast_ws_connections')).toBe(4);
    expect(value(busy, 'fourcast_rooms')).toBe(1);
    expect(value(busy, 'fourcast_peers{role="publisher"}')).toBe(1);
    expect(value(busy, 'fourcast_peers{role="viewer"}')).toBe(3);
    expect(value(busy, 'fourcast_publishers')).toBe(1);
    expect(value(busy, 'fourcast_producers{kind="video"}')).toBe(1);
    expect(value(busy, 'fourcast_producers{kind="audio"}')).toBe(0);
    expect(value(busy, 'fourcast_fanout_routers')).toBe(1);
    // One router per worker for this room; consumers: one per viewer plus the pipe consumer feeding the fan-out router.
    expect(value(busy, 'fourcast_routers{worker="0"}') + value(busy, 'fourcast_routers{worker="1"}')).toBe(2);
    expect(value(busy, 'fourcast_consumers{worker="0"}') + value(busy, 'fourcast_consumers{worker="1"}')).toBe(3);
    // Room names and peer ids never become labels.
    expect(busy).not.toContain(room);
    expect(busy).not.toContain(pubJoin.peerId);
    for (const id of viewerIds) expect(busy).not.toContain(id);

    const lint = spawnSync('promtool', ['check', 'metrics'], { input: busy, encoding: 'utf8' });
    if (lint.error) throw new Error(`promtool not runnable (${lint.error.message}); install it with: apt-get install -y prometheus`);
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.status).toBe(0);

    // Viewers leave: the gauges come back down without anyone decrementing a counter.
    for (const v of viewers) v.close();
    const afterViewers = await until(scrape, (t) => sample(t, 'fourcast_peers{role="viewer"}') === 0 && sample(t, 'fourcast_ws_connections') === 1, 'viewers to leave');
    expect(value(afterViewers, 'fourcast_peers{role="publisher"}')).toBe(1);
    // The viewers' consumers are gone; the pipe consumer feeding the fan-out router stays while the room is open.
    expect(value(afterViewers, 'fourcast_consumers{worker="0"}') + value(afterViewers, 'fourcast_consumers{worker="1"}')).toBe(1);
    expect(value(afterViewers, 'fourcast_fanout_routers')).toBe(1);
    // Counters only ever go up.
    expect(value(afterViewers, 'fourcast_chat_messages_total{direction="out"}')).toBe(value(busy, 'fourcast_chat_messages_total{direction="out"}'));

    // The publisher leaves; the room closes after its grace period (1 s in tests) with its routers.
    pub.close();
    const empty = await until(scrape, (t) => sample(t, 'fourcast_rooms') === 0 && sample(t, 'fourcast_ws_connections') === 0, 'the empty room to close');
    expect(value(empty, 'fourcast_peers{role="publisher"}')).toBe(0);
    expect(value(empty, 'fourcast_producers{kind="video"}')).toBe(0);
    expect(value(empty, 'fourcast_fanout_routers')).toBe(0);
    expect(value(empty, 'fourcast_consumers{worker="0"}') + value(empty, 'fourcast_consumers{worker="1"}')).toBe(0);
    expect(value(empty, 'fourcast_routers{worker="0"}') + value(empty, 'fourcast_routers{worker="1"}')).toBe(0);
  });

  it('counts TURN credential requests by provider and outcome', async () => {
    const before = await scrape();
    const res = await fetch(`${node.urls.http}/api/turn`);
    expect(res.status).toBe(200);
    // No Twilio and no TURN secret on this node: STUN only.
    const after = await scrape();
    expect(value(after, 'fourcast_turn_requests_total{provider="stun",outcome="ok"}') - value(before, 'fourcast_turn_requests_total{provider="stun",outcome="ok"}')).toBe(1);
    expect(value(after, 'fourcast_turn_requests_total{provider="coturn",outcome="ok"}')).toBe(0);
    expect(value(after, 'fourcast_turn_requests_total{provider="twilio",outcome="ok"}')).toBe(0);
  });

  it('counts a worker that died, and shows its replacement up', async () => {
    const victim = node.pool.workers[1]!;
    const pid = victim.pid;
    process.kill(pid, 'SIGKILL');
    const after = await until(
      scrape,
      (t) => sample(t, 'fourcast_worker_deaths_total') === 1 && sample(t, 'fourcast_worker_up{worker="1"}') === 1 && node.pool.workers[1]!.pid !== pid,
      'the worker to be counted dead and replaced',
      15_000,
    );
    expect(value(after, 'fourcast_worker_up{worker="0"}')).toBe(1);
    expect(node.pool.workers[1]!.pid).not.toBe(pid);
  });
});
