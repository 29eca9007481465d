import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import type { Fourcast } from '../../src/server.js';
import { MEDIA_REQUEST_TIMEOUT_MS } from '../../src/media/timeout.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';
import { opus, vp8 } from '../helpers/rtpParameters.js';

/**
 * Issue 12, findings 1, 2, 3 and 9, replayed against a real node: each attack
 * succeeded before media/ owned every participant's mediasoup objects.
 */

async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what} not reached within ${timeoutMs} ms`);
}

/** A request that also fails when the server drops the socket first (TestClient alone would wait forever). */
function orClosed<T>(c: TestClient, p: Promise<T>): Promise<T> {
  return Promise.race([p, c.closed.then((x) => Promise.reject(Object.assign(new Error(`socket closed ${x.code}`), { code: 'socket-closed' })))]);
}

/** Consumers the worker itself holds (not Node's view of them): every router, every transport. */
async function workerConsumers(worker: ms.Worker, routers: ms.Router[]): Promise<number> {
  const dump = await worker.dump();
  let n = 0;
  for (const router of routers.filter((r) => dump.routerIds.includes(r.id))) {
    const rd = await router.dump();
    n += rd.mapProducerIdConsumerIds.reduce((a, e) => a + e.values.length, 0);
  }
  return n;
}

describe('abuse of the media lifecycle (issue 12)', () => {
  let node: Fourcast;
  const url = (q: string) => `${node.urls.ws}?${q}`;
  const publisherToken = (room: string, name: string) => node.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 });
  const w0 = () => node.pool.workers[0]!;
  const routersOf = (room: string) => node.rooms.get(room)?.media.all().map((rr) => rr.router) ?? [];

  beforeAll(async () => {
    // Per-address limits (finding 4) are tested elsewhere: every attacker here is 127.0.0.1.
    node = await startTestNode({ MEDIASOUP_WORKERS: '1', WS_MAX_CONNECTIONS_PER_ADDRESS: '1000', ROOMS_PER_ADDRESS: '1000' });
  });
  afterAll(async () => node?.close());

  /** A publisher on stage with one camera producer in `room`. */
  async function stage(room: string, name = 'Host') {
    const pub = await TestClient.connect(url(`room=${room}&token=${await publisherToken(room, name)}`));
    const joined = await pub.request('join', {});
    const t = await pub.request('createTransport', { direction: 'send' });
    const { producerId } = await pub.request('produce', { transportId: t.transportId, kind: 'video', rtpParameters: vp8(1111), source: 'camera' });
    return { pub, producerId, caps: joined.routerRtpCapabilities, transportId: t.transportId };
  }

  it('(a) 300 join → recv transport → consume → terminate loops leave no consumer behind', async () => {
    const { pub, producerId, caps } = await stage('ghosts');
    const baseConsumers = w0().consumers;
    const baseTransports = w0().transports;
    const baseViewers = w0().viewers;
    const loop = async () => {
      const c = await TestClient.connect(url('room=ghosts'));
      await c.request('join', {});
      await c.request('createTransport', { direction: 'recv' });
      void c.request('setRtpCapabilities', { rtpCapabilities: caps as never }).catch(() => undefined);
      void c.request('consume', { producerId }).catch(() => undefined);
      // Gone while the consume is inside mediasoup.
      c.ws.terminate();
    };
    for (let i = 0; i < 300; i += 10) await Promise.all(Array.from({ length: 10 }, loop));
    await until(() => node.rooms.get('ghosts')?.peers.size === 1, 10_000, 'only the publisher left');
    await until(() => w0().consumers === baseConsumers && w0().transports === baseTransports, 10_000, 'worker counts back to baseline');
    // Every placement's packet reservation went back with its peer.
    expect(w0().viewers).toBe(baseViewers);
    // The worker agrees with Node: no consumer outlived its peer.
    expect(await workerConsumers(w0().worker, routersOf('ghosts'))).toBe(0);
    expect(node.rooms.get('ghosts')!.media.unitCount).toBe(1);
    // The stream still reaches a new viewer.
    const v = await TestClient.connect(url('room=ghosts'));
    await v.request('join', {});
    await v.request('createTransport', { direction: 'recv' });
    await v.request('setRtpCapabilities', { rtpCapabilities: caps as never });
    expect((await v.request('consume', { producerId })).producerId).toBe(producerId);
    v.close();
    pub.close();
  }, 120_000);

  it('(b) a publisher that disconnects mid-produce leaves no ghost producer; the next one is consumable', async () => {
    const room = 'ghost-producers';
    // A viewer present during the attack: whatever it is told about must be real.
    const watcher = await TestClient.connect(url(`room=${room}`));
    const watched = await watcher.request('join', {});
    // A viewer gets a receive transport once a broadcaster is in the room: one opens it, then leaves.
    const opener = await TestClient.connect(url(`room=${room}&token=${await publisherToken(room, 'Opener')}`));
    await opener.request('join', {});
    await watcher.request('createTransport', { direction: 'recv' });
    opener.close();
    await until(() => node.rooms.get(room)?.peers.size === 1, 10_000, 'the opener gone');
    await watcher.request('setRtpCapabilities', { rtpCapabilities: watched.routerRtpCapabilities as never });
    for (let i = 0; i < 30; i++) {
      const pub = await TestClient.connect(url(`room=${room}&token=${await publisherToken(room, `P${i}`)}`));
      // See the report: now and then the server drops a fresh socket here (1006) before answering its join.
      const t = await orClosed(pub, pub.request('join', {}))
        .then(() => orClosed(pub, pub.request('createTransport', { direction: 'send' })))
        .catch(() => undefined);
      if (!t) {
        pub.ws.terminate();
        continue;
      }
      void pub.request('produce', { transportId: t.transportId, kind: 'video', rtpParameters: vp8(3000 + i), source: 'camera' }).catch(() => undefined);
      pub.ws.terminate();
    }
    await until(() => node.rooms.get(room)?.peers.size === 1, 10_000, 'every publisher gone');
    await new Promise((r) => setTimeout(r, 200));
    // Every producer announced to the watcher was closed again, or is really there to consume.
    const ids = (method: string) => watcher.notifications.filter((n) => n.method === method).map((n) => (n.data as { producerId: string }).producerId);
    const ghosts: string[] = [];
    for (const id of ids('newProducer')) {
      if (ids('producerClosed').includes(id)) continue;
      if ((await errorCode(watcher.request('consume', { producerId: id }))) !== 'ok') ghosts.push(id);
    }
    expect(ghosts).toEqual([]);
    const r = node.rooms.get(room);
    if (r) {
      expect(r.stage.peers).toEqual([]);
      // No producer nor transport left on the origin router (the worker's own view).
      const dumps = await Promise.all(r.media.all().map((rr) => rr.router.dump()));
      expect(dumps.flatMap((d) => d.mapProducerIdConsumerIds)).toEqual([]);
      expect(dumps.flatMap((d) => d.transportIds)).toHaveLength(1); // the watcher's
      expect(r.media.unitCount).toBe(1);
    }
    // A viewer joining now sees no announced-but-dead producer, and a real publisher fans out.
    const viewer = await TestClient.connect(url(`room=${room}`));
    const joined = await viewer.request('join', {});
    expect(joined.publishers).toEqual([]);
    const { pub, producerId } = await stage(room, 'Real');
    await viewer.request('createTransport', { direction: 'recv' });
    await viewer.request('setRtpCapabilities', { rtpCapabilities: joined.routerRtpCapabilities as never });
    expect((await viewer.request('consume', { producerId })).producerId).toBe(producerId);
    const announced = viewer.notifications.filter((n) => n.method === 'newProducer').map((n) => (n.data as { producerId: string }).producerId);
    expect(announced).toEqual([producerId]);
    for (const c of [viewer, watcher, pub]) c.close();
  }, 60_000);

  it('(c) 50 pipelined consumes of one producer on one socket: exactly one succeeds, the rest get a typed error', async () => {
    const { pub, producerId, caps } = await stage('pipelined-consume');
    const base = w0().consumers;
    const v = await TestClient.connect(url('room=pipelined-consume'));
    await v.request('join', {});
    await v.request('createTransport', { direction: 'recv' });
    await v.request('setRtpCapabilities', { rtpCapabilities: caps as never });
    const codes = await Promise.all(Array.from({ length: 50 }, () => errorCode(v.request('consume', { producerId }))));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(1);
    expect(new Set(codes.filter((c) => c !== 'ok'))).toEqual(new Set(['invalid-state']));
    expect(w0().consumers).toBe(base + 1);
    v.close();
    pub.close();
  });

  it('(d) 60 pipelined createTransport stay within the cap of 4; five sockets each within it', async () => {
    // Counted by the worker itself, on this room's routers only (other tests' sockets may still be closing).
    const transportsInWorker = async () => (await Promise.all(routersOf('pipelined-transports').map((r) => r.dump()))).reduce((a, d) => a + d.transportIds.length, 0);
    // A broadcaster in the room (not on stage yet): viewers may create receive transports.
    const host = await TestClient.connect(url(`room=pipelined-transports&token=${await publisherToken('pipelined-transports', 'Host')}`));
    await host.request('join', {});
    const c = await TestClient.connect(url('room=pipelined-transports'));
    await c.request('join', {});
    const codes = await Promise.all(Array.from({ length: 60 }, () => errorCode(c.request('createTransport', { direction: 'recv' }))));
    expect(codes.filter((x) => x === 'ok')).toHaveLength(4);
    expect(new Set(codes.filter((x) => x !== 'ok'))).toEqual(new Set(['invalid-state']));
    expect(await transportsInWorker()).toBe(4);

    const five = await Promise.all(Array.from({ length: 5 }, () => TestClient.connect(url('room=pipelined-transports'))));
    await Promise.all(five.map((s) => s.request('join', {})));
    const perSocket = await Promise.all(five.map((s) => Promise.all(Array.from({ length: 60 }, () => errorCode(s.request('createTransport', { direction: 'recv' }))))));
    for (const res of perSocket) expect(res.filter((x) => x === 'ok')).toHaveLength(4);
    expect(await transportsInWorker()).toBe(24);
    for (const s of [host, c, ...five]) s.close();
    await until(async () => (await transportsInWorker()) === 0, 5000, 'transports closed with their sockets');
  });

  it('(e) 3 pipelined camera produces: one is accepted; the mic still can be added', async () => {
    const room = 'pipelined-produce';
    const pub = await TestClient.connect(url(`room=${room}&token=${await publisherToken(room, 'Triple')}`));
    await pub.request('join', {});
    const t = await pub.request('createTransport', { direction: 'send' });
    const codes = await Promise.all(
      [1, 2, 3].map((i) => errorCode(pub.request('produce', { transportId: t.transportId, kind: 'video', rtpParameters: vp8(4000 + i), source: 'camera' }))),
    );
    expect(codes.filter((c) => c === 'ok')).toHaveLength(1);
    expect(new Set(codes.filter((c) => c !== 'ok'))).toEqual(new Set(['invalid-state']));
    const r = node.rooms.get(room)!;
    expect(r.stage.peers).toHaveLength(1);
    expect(r.stage.peers[0]!.producers.size).toBe(1);
    expect(await errorCode(pub.request('produce', { transportId: t.transportId, kind: 'audio', rtpParameters: opus(5000), source: 'mic' }))).toBe('ok');
    expect(r.stage.peers[0]!.producers.size).toBe(2);
    pub.close();
  });

  it('(f) 12 viewers ask for a receive transport at once on a node with room for 3: exactly 3 get one, the rest server-busy; the broadcaster still watches', async () => {
    // A node of its own: 3 receivers fit its one worker's packet budget.
    const small = await startTestNode({ MEDIASOUP_WORKERS: '1', WORKER_MAX_PACKET_RATE: '1200', VIEWER_PACKET_RATE: '400' });
    try {
      const room = 'budget';
      const token = await small.tokens.mint({ role: 'publisher', room, name: 'Host', ttlSeconds: 600 });
      const pub = await TestClient.connect(`${small.urls.ws}?room=${room}&token=${token}`);
      await pub.request('join', {});
      await pub.request('createTransport', { direction: 'send' });
      const viewers = await Promise.all(Array.from({ length: 12 }, () => TestClient.connect(`${small.urls.ws}?room=${room}`)));
      await Promise.all(viewers.map((v) => v.request('join', {})));
      // Pipelined: every request is in flight before the first placement settles.
      const codes = await Promise.all(viewers.map((v) => errorCode(v.request('createTransport', { direction: 'recv' }))));
      expect(codes.filter((c) => c === 'ok')).toHaveLength(3);
      expect(codes.filter((c) => c === 'server-busy')).toHaveLength(9);
      const worker = small.pool.workers[0]!;
      expect(worker.viewers).toBe(3);
      // A refused viewer asking again: still nothing past the budget.
      const refused = viewers.filter((_, i) => codes[i] !== 'ok');
      expect(await errorCode(refused[0]!.request('createTransport', { direction: 'recv' }))).toBe('server-busy');
      // One admitted viewer leaves: its reservation frees, and exactly one of two racing newcomers gets it.
      viewers[codes.indexOf('ok')]!.close();
      await until(() => worker.viewers === 2, 5000, 'the leaver released');
      const again = await Promise.all(refused.slice(0, 2).map((v) => errorCode(v.request('createTransport', { direction: 'recv' }))));
      expect(again.sort()).toEqual(['ok', 'server-busy']);
      expect(worker.viewers).toBe(3);
      // The broadcaster's own receive transport (to watch co-hosts) is placed past the budget.
      expect((await pub.request('createTransport', { direction: 'recv' })).transportId).toBeTruthy();
      expect(worker.viewers).toBe(4);
      for (const s of [pub, ...viewers]) s.close();
      await until(() => worker.viewers === 0, 5000, 'every reservation released');
    } finally {
      await small.close();
    }
  }, 30_000);

  it('(g) a stopped worker (SIGSTOP): requests that need it fail with a typed error within the timeout; it is killed and replaced', async () => {
    const { pub } = await stage('frozen');
    const c = await TestClient.connect(url('room=frozen'));
    await c.request('join', {});
    const pid = w0().pid;
    process.kill(pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      // Timed out (media-unavailable), or refused because the pool already took the worker out of placement (server-busy).
      expect(['media-unavailable', 'server-busy']).toContain(await errorCode(c.request('createTransport', { direction: 'recv' })));
      expect(Date.now() - t0).toBeLessThan(MEDIA_REQUEST_TIMEOUT_MS + 2000);
      // A new room costs no router until a broadcaster arrives: joining it does not need the stopped worker.
      const newcomer = await TestClient.connect(url('room=frozen-new'));
      expect((await newcomer.request('join', {})).room).toBe('frozen-new');
      newcomer.close();
      // Taken out of placement, then killed (SIGKILL: a stopped worker handles nothing else) and replaced.
      await until(() => w0().pid !== pid && !w0().closed, 15_000, 'worker 0 replaced');
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* killed */
      }
    }
    expect(() => process.kill(pid, 0)).toThrow();
    // The broadcaster is told to rebuild its media (its transport went with the worker); the room works again.
    await pub.waitFor('mediaReset');
    expect(node.pool.unresponsive()).toEqual([]);
    expect((await pub.request('createTransport', { direction: 'send' })).transportId).toBeTruthy();
    expect((await c.request('createTransport', { direction: 'recv' })).transportId).toBeTruthy();
    for (const s of [c, pub]) s.close();
  }, 30_000);
});
