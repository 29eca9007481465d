import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';

// Limits per client address, against a real node. TRUST_PROXY=127.0.0.1 lets each test
// speak for its own addresses through X-Forwarded-For.
describe('limits per address (real node)', () => {
  let node: Fourcast;
  const url = (q: string) => `${node.urls.ws}?${q}`;
  const from = (address: string) => ({ 'x-forwarded-for': address });
  const refused = (p: Promise<unknown>) => p.then(() => ({ status: 101, body: {} }), (e: { status: number; body: { error: string } }) => e);
  const metric = async (name: string) => {
    const text = await (await fetch(`${node.urls.http}/metrics`)).text();
    return Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  };

  beforeAll(async () => {
    node = await startTestNode({
      MEDIASOUP_WORKERS: '1',
      TRUST_PROXY: '127.0.0.1',
      WS_MAX_CONNECTIONS_PER_ADDRESS: '3',
      ROOMS_PER_ADDRESS: '2',
      ROOMS_MAX: '4',
      CHAT_RATE_PER_SECOND: '1',
      CHAT_BURST: '5',
      CHAT_ADDRESS_RATE_PER_SECOND: '2',
      CHAT_ADDRESS_BURST: '8',
    });
  });
  afterAll(async () => node?.close());

  it('refuses a fourth connection from one address with 429 too-many-connections, also through POST /api/access', async () => {
    const open = await Promise.all([1, 2, 3].map(() => TestClient.connect(url('room=conn'), from('198.51.100.10'))));
    const before = await metric('fourcast_limit_refusals_total{limit="ws-connections-per-address"}');
    expect(await refused(TestClient.connect(url('room=conn'), from('198.51.100.10')))).toMatchObject({ status: 429, body: { error: 'too-many-connections' } });
    const res = await fetch(`${node.urls.http}/api/access`, { method: 'POST', headers: { 'content-type': 'application/json', ...from('198.51.100.10') }, body: '{"room":"conn"}' });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ error: 'too-many-connections' });
    expect(await metric('fourcast_limit_refusals_total{limit="ws-connections-per-address"}')).toBe(before + 1);
    // Another address is not affected; a closed connection frees its place.
    (await TestClient.connect(url('room=conn'), from('198.51.100.11'))).close();
    open[0]!.close();
    await open[0]!.closed;
    await new Promise((r) => setTimeout(r, 50));
    const again = await TestClient.connect(url('room=conn'), from('198.51.100.10'));
    for (const c of [again, ...open]) c.close();
  });

  it('chat budget is per connection and address: leave + join does not refill it', async () => {
    const c = await TestClient.connect(url('room=chatty'), from('198.51.100.30'));
    let ok = 0;
    const start = performance.now();
    while (performance.now() - start < 3000) {
      // Under WS_REQUESTS_PER_SECOND (50): only the chat budget may refuse these.
      await c.request('join', {});
      const sent = await Promise.all(Array.from({ length: 5 }, (_, i) => errorCode(c.request('chatSend', { text: `spam ${i}` }))));
      ok += sent.filter((s) => s === 'ok').length;
      await c.request('leave', {});
      await new Promise((r) => setTimeout(r, 150));
    }
    const seconds = (performance.now() - start) / 1000;
    // CHAT_BURST 5 + CHAT_RATE_PER_SECOND 1 × t (+1 for rounding), not 5 per join (about 90).
    expect(ok).toBeGreaterThanOrEqual(5);
    expect(ok).toBeLessThanOrEqual(5 + Math.ceil(seconds) + 1);
    c.close();
  });

  it('new sockets from one address share the address budget', async () => {
    let ok = 0;
    for (let i = 0; i < 3; i++) {
      const c = await TestClient.connect(url('room=chatty2'), from('198.51.100.31'));
      await c.request('join', {});
      const sent = await Promise.all(Array.from({ length: 6 }, (_, j) => errorCode(c.request('chatSend', { text: `hi ${i}.${j}` }))));
      ok += sent.filter((s) => s === 'ok').length;
      c.close();
      await c.closed;
    }
    // Three fresh connections could send 15 alone; CHAT_ADDRESS_BURST 8 (+ 2/s) caps them together.
    expect(ok).toBeLessThanOrEqual(8 + 3);
  });

  it('a refused request is answered with its id (no 15 s wait in the browser)', async () => {
    const c = await TestClient.connect(url('room=flood'), from('198.51.100.40'));
    // WS_REQUESTS_PER_SECOND 50, burst 200: 260 pipelined requests run past it.
    const codes = await Promise.all(Array.from({ length: 260 }, () => errorCode(c.request('chatSync', {}))));
    expect(codes.filter((x) => x === 'rate-limited').length).toBeGreaterThan(0);
    expect(c.orphanErrors).toEqual([]);
    c.close();
  });
  it('caps the rooms one address opens, and the rooms of the node', async () => {
    // The rooms of the tests above close after ROOM_GRACE_SECONDS (1 s).
    for (let i = 0; i < 150 && node.rooms.rooms.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(node.rooms.rooms.size).toBe(0);
    const c = (i: number, room: string, address: string) => TestClient.connect(url(`room=${room}`), from(address)).then((cl) => ({ cl, i }));
    const results: string[] = [];
    const clients: TestClient[] = [];
    for (const [i, room] of ['ra1', 'ra2', 'ra3'].entries()) {
      const { cl } = await c(i, room, '198.51.100.20').catch(() => ({ cl: undefined as unknown as TestClient }));
      if (cl) clients.push(cl);
      results.push(cl ? await errorCode(cl.request('join', {})) : 'refused');
      if (cl) cl.close();
      await cl?.closed;
    }
    // Rooms outlive their last socket for ROOM_GRACE_SECONDS: the third is still refused.
    expect(results.slice(0, 2)).toEqual(['ok', 'ok']);
    expect(results[2]).toBe('rate-limited');
    expect(await metric('fourcast_limit_refusals_total{limit="rooms-per-address"}')).toBeGreaterThanOrEqual(1);
    // Joining a room that exists costs nothing.
    const join = await TestClient.connect(url('room=ra1'), from('198.51.100.21'));
    expect(await errorCode(join.request('join', {}))).toBe('ok');
    // Node-wide: ra1, ra2, rb1, rb2 make four; a fifth is refused, whatever the address.
    const b = [] as string[];
    for (const [room, address] of [['rb1', '198.51.100.22'], ['rb2', '198.51.100.23'], ['rb3', '198.51.100.24']] as const) {
      const cl = await TestClient.connect(url(`room=${room}`), from(address));
      clients.push(cl);
      b.push(await errorCode(cl.request('join', {})));
    }
    expect(b).toEqual(['ok', 'ok', 'server-busy']);
    expect(await metric('fourcast_limit_refusals_total{limit="rooms-total"}')).toBeGreaterThanOrEqual(1);
    for (const cl of [...clients, join]) cl.close();
  });
});
