import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MediaWorker } from '../../src/media/workerPool.js';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { clientPool, errorCode } from '../helpers/wsClient.js';
import { vp8 } from '../helpers/rtpParameters.js';

/**
 * Issue 12: a room with no broadcaster costs no router until one arrives (a real node,
 * real sockets, the workers' own view of their routers).
 */
describe('no router until a broadcaster arrives', () => {
  let node: Fourcast;
  const pool = clientPool(() => node.urls.ws);
  const connect = (q: string) => pool.connect(q);
  /** Routers every worker holds, as the worker itself reports them. */
  const workerRouters = async () => (await Promise.all(node.pool.workers.map((w) => w.worker.dump()))).map((d) => d.routerIds.length);

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '2' });
  });
  afterAll(async () => {
    pool.closeAll();
    await node?.close();
  });

  it('viewers alone: zero routers on every worker; the broadcaster’s first transport makes the one origin', async () => {
    const room = 'lazy-router';
    const viewers = await Promise.all(Array.from({ length: 5 }, () => connect(`room=${room}`)));
    const joined = await Promise.all(viewers.map((v) => v.request('join', {})));
    // Joining still tells the router capabilities (the pool's: every router has the same).
    expect(joined[0]!.routerRtpCapabilities).toEqual(node.pool.rtpCapabilities);
    expect(await workerRouters()).toEqual([0, 0]);
    expect(node.rooms.get(room)!.media.hasOrigin).toBe(false);
    // Nobody on stage: no receive transport (and so no router) for a viewer.
    expect(await errorCode(viewers[0]!.request('createTransport', { direction: 'recv' }))).toBe('invalid-state');
    expect(await workerRouters()).toEqual([0, 0]);

    // A broadcaster joining costs nothing yet; its send transport creates the origin.
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 });
    const pub = await connect(`room=${room}&token=${token}`);
    await pub.request('join', {});
    expect(await workerRouters()).toEqual([0, 0]);
    const send = await pub.request('createTransport', { direction: 'send' });
    expect((await workerRouters()).reduce((a, b) => a + b, 0)).toBe(1);
    const { producerId } = await pub.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8(4242), source: 'camera' });

    // Now viewers receive it.
    const v = viewers[0]!;
    await v.request('createTransport', { direction: 'recv' });
    await v.request('setRtpCapabilities', { rtpCapabilities: joined[0]!.routerRtpCapabilities as never });
    expect((await v.request('consume', { producerId })).producerId).toBe(producerId);
  });

  it('a full node answers a broadcaster’s first transport with server-busy, and per-participant caps, both counted', async () => {
    const refusals = async (limit: string) => {
      const text = await node.metrics.registry.getSingleMetricAsString('fourcast_limit_refusals_total');
      return Number(new RegExp(`limit="${limit}"} (\\d+)`).exec(text)?.[1] ?? NaN);
    };
    const busyBefore = await refusals('server-busy');
    const room = 'lazy-full';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Late', ttlSeconds: 600 });
    const pub = await connect(`room=${room}&token=${token}`);
    // Joining needs no router, so it works on a full node.
    await pub.request('join', {});
    // Every worker past its CPU headroom, as their samples would say (pinned so the sampler keeps it).
    const pin = (w: MediaWorker, cpu: number) => Object.defineProperty(w, 'cpu', { get: () => cpu, set: () => undefined, configurable: true });
    for (const w of node.pool.workers) pin(w, 0.99);
    try {
      const routers = await workerRouters();
      expect(await errorCode(pub.request('createTransport', { direction: 'send' }))).toBe('server-busy');
      expect(await workerRouters()).toEqual(routers);
      expect(await refusals('server-busy')).toBe(busyBefore + 1);
    } finally {
      for (const w of node.pool.workers) pin(w, 0);
    }
    // Headroom again: the same request succeeds; a fifth transport of one participant is refused and counted.
    const transportsBefore = await refusals('transports-per-peer');
    for (let i = 0; i < 4; i++) await pub.request('createTransport', { direction: 'send' });
    expect(await errorCode(pub.request('createTransport', { direction: 'send' }))).toBe('invalid-state');
    expect(await refusals('transports-per-peer')).toBe(transportsBefore + 1);
  });
});
