import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { opus, vp8 } from '../helpers/rtpParameters.js';
import { startTestNode } from '../helpers/server.js';
import { clientPool } from '../helpers/wsClient.js';

/**
 * A fan-out router whose worker is too slow when a broadcaster adds a track (here SIGSTOP,
 * in life an overloaded host): the broadcaster's produce still succeeds, and the viewer on
 * that router gets the track once the worker answers, because its consume pipes it again.
 * (Before: the failed pipe stayed marked as done, so every later consume of that track on
 * that router was refused as a "codec mismatch", and the produce itself failed.)
 */
describe('fan-out pipes that fail are piped again', () => {
  let node: Fourcast;
  const pool = clientPool(() => node.urls.ws);
  const connect = (q: string) => pool.connect(q);

  beforeAll(async () => {
    // One viewer per router: the second viewer lands on a fan-out router on the other worker.
    node = await startTestNode({ MEDIASOUP_WORKERS: '2', ROUTER_MAX_VIEWERS: '1', WORKER_UNRESPONSIVE_SAMPLES: '1000' });
  });
  afterAll(async () => {
    pool.closeAll();
    await node?.close();
  });

  it('a track added while the fan-out worker is stopped reaches that worker’s viewer afterwards', async () => {
    const room = 'pipe-retry';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 });
    const pub = await connect(`room=${room}&token=${token}`);
    const joined = await pub.request('join', {});
    const send = await pub.request('createTransport', { direction: 'send' });
    const camera = await pub.request('produce', { transportId: send.transportId, kind: 'video', rtpParameters: vp8(1111), source: 'camera' });

    const viewers = [];
    const viewerIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const v = await connect(`room=${room}`);
      viewerIds.push((await v.request('join', {})).peerId);
      await v.request('setRtpCapabilities', { rtpCapabilities: joined.routerRtpCapabilities as never });
      await v.request('createTransport', { direction: 'recv' });
      viewers.push(v);
    }
    const r = node.rooms.get(room)!;
    const origin = await r.media.origin();
    const fanOut = r.media.all().find((rr) => rr !== origin)!;
    expect(fanOut).toBeDefined();
    const onFanOut = viewerIds.findIndex((id) => r.peers.get(id)!.recvRouter === fanOut);
    expect(onFanOut).toBeGreaterThanOrEqual(0);
    const viewer = viewers[onFanOut]!;
    expect((await viewer.request('consume', { producerId: camera.producerId })).producerId).toBe(camera.producerId);

    const pid = fanOut.worker.pid;
    process.kill(pid, 'SIGSTOP');
    let mic;
    try {
      // The pipe to the stopped worker times out (5 s); the broadcaster is not failed for it.
      mic = await pub.request('produce', { transportId: send.transportId, kind: 'audio', rtpParameters: opus(2222), source: 'mic' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await poll(async () => node.pool.unresponsive(), (ids) => ids.length === 0, 15_000, 'the worker answering again');
    // The fan-out viewer consumes it: piped again on demand.
    expect(fanOut.piped.has(mic.producerId)).toBe(false);
    const got = await viewer.request('consume', { producerId: mic.producerId });
    expect(got).toMatchObject({ producerId: mic.producerId, kind: 'audio' });
    expect(fanOut.piped.has(mic.producerId)).toBe(true);
    expect(node.pool.workers[fanOut.workerIndex]!.pid).toBe(pid);
  }, 60_000);
});
