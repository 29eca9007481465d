import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { RoomMedia } from '../../src/media/roomMedia.js';
import type { WorkerPool } from '../../src/media/workerPool.js';
import { createTestPool, silentLog } from '../helpers/pool.js';
import { opus, vp8 } from '../helpers/rtpParameters.js';

describe('PeerMedia: one participant’s mediasoup objects, owned by the room’s media', () => {
  let pool: WorkerPool;
  const w = () => pool.workers[0]!;
  beforeAll(async () => {
    pool = await createTestPool(1);
  });
  afterAll(() => pool?.close());

  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('reserves transport slots before the first await: 20 concurrent creates, 4 succeed', async () => {
    const media = new RoomMedia({ pool, log: silentLog, maxViewersPerRouter: 100, maxTransportsPerPeer: 4 });
    const unit = media.createPeerMedia('p1');
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => unit.createTransport('recv')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
    expect(unit.transports.size).toBe(4);
    // One placement for all of them: the router counts this participant once.
    expect(media.all().reduce((a, rr) => a + rr.viewers, 0)).toBe(1);
    unit.close();
    unit.close();
    expect(unit.closed).toBe(true);
    expect(unit.transports.size).toBe(0);
    expect(media.all().reduce((a, rr) => a + rr.viewers, 0)).toBe(0);
    expect(media.unitCount).toBe(0);
    media.close();
  });

  it('closing mid-create closes what the create made and throws invalid-state; nothing is left on the worker', async () => {
    const media = new RoomMedia({ pool, log: silentLog, maxViewersPerRouter: 100 });
    await media.origin();
    const base = { transports: w().transports, consumers: w().consumers };
    const pub = media.createPeerMedia('pub');
    const send = await pub.createTransport('send');
    const producer = await pub.produce(send, { kind: 'video', rtpParameters: vp8(1), source: 'camera', keyFrameRequestDelay: 0 });
    const caps = (await media.rtpCapabilities) as ms.RtpCapabilities;

    const viewer = media.createPeerMedia('viewer');
    await viewer.createTransport('recv');
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);
    const consuming = code(viewer.consume(producer.id, caps));
    const creating = code(viewer.createTransport('recv'));
    viewer.close();
    expect(await consuming).toBe('invalid-state');
    expect(await creating).toBe('invalid-state');
    await settle();
    expect(w().consumers).toBe(base.consumers);
    expect(w().transports).toBe(base.transports + 1);

    // Produce racing the publisher's departure: no producer survives.
    const pub2 = media.createPeerMedia('pub2');
    const send2 = await pub2.createTransport('send');
    const producing = pub2.produce(send2, { kind: 'video', rtpParameters: vp8(2), source: 'camera', keyFrameRequestDelay: 0 });
    pub2.close();
    await expect(producing).rejects.toMatchObject({ code: 'invalid-state' });
    const dump = await media.all()[0]!.router.dump();
    expect(dump.mapProducerIdConsumerIds.map((e) => e.key)).toEqual([producer.id]);
    pub.close();
    media.close();
  });

  it('one consumer per producer and one producer per source, under concurrency', async () => {
    const media = new RoomMedia({ pool, log: silentLog, maxViewersPerRouter: 100 });
    const pub = media.createPeerMedia('pub');
    const send = await pub.createTransport('send');
    const made = await Promise.allSettled([1, 2, 3].map((i) => pub.produce(send, { kind: 'video', rtpParameters: vp8(10 + i), source: 'camera', keyFrameRequestDelay: 0 })));
    expect(made.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const producer = (made.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<ms.Producer>).value;
    const caps = (await media.rtpCapabilities) as ms.RtpCapabilities;
    const viewer = media.createPeerMedia('viewer');
    await viewer.createTransport('recv');
    const consumed = await Promise.allSettled(Array.from({ length: 30 }, () => viewer.consume(producer.id, caps)));
    expect(consumed.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(consumed.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(Array(29).fill('invalid-state'));
    expect(viewer.consumers.size).toBe(1);
    media.close();
  });

  it('caps producers and consumers per participant under concurrency, and reports each refusal', async () => {
    const refused: string[] = [];
    const media = new RoomMedia({ pool, log: silentLog, maxViewersPerRouter: 100, maxProducersPerPeer: 1, maxConsumersPerPeer: 3, onLimitRefused: (l) => refused.push(l) });
    // Producers: a camera and a mic at once, with a cap of one: one is made.
    const pub = media.createPeerMedia('pub');
    const send = await pub.createTransport('send');
    const made = await Promise.allSettled([
      pub.produce(send, { kind: 'video', rtpParameters: vp8(21), source: 'camera', keyFrameRequestDelay: 0 }),
      pub.produce(send, { kind: 'audio', rtpParameters: opus(22), source: 'mic', keyFrameRequestDelay: 0 }),
    ]);
    expect(made.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(pub.producers.size).toBe(1);
    expect(refused).toEqual(['producers-per-peer']);
    // Consumers: five producers of others, consumed at once with a cap of three.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const other = media.createPeerMedia(`pub${i}`);
      const t = await other.createTransport('send');
      ids.push((await other.produce(t, { kind: 'video', rtpParameters: vp8(30 + i), source: 'camera', keyFrameRequestDelay: 0 })).id);
    }
    ids.push([...pub.producers.keys()][0]!);
    const caps = (await media.rtpCapabilities) as ms.RtpCapabilities;
    const viewer = media.createPeerMedia('viewer');
    await viewer.createTransport('recv');
    const consumed = await Promise.allSettled(ids.map((id) => viewer.consume(id, caps)));
    expect(consumed.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(consumed.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['invalid-state', 'invalid-state']);
    expect(viewer.consumers.size).toBe(3);
    expect(refused.filter((l) => l === 'consumers-per-peer')).toHaveLength(2);
    // A closed consumer frees its slot.
    const [first] = [...viewer.consumers.values()];
    first!.close();
    const rest = ids.filter((id) => ![...viewer.consumers.values()].some((c) => c.producerId === id));
    expect((await Promise.allSettled(rest.map((id) => viewer.consume(id, caps)))).filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    // Transports: the default cap of four, reported too.
    for (let i = 0; i < 3; i++) await viewer.createTransport('recv');
    await expect(viewer.createTransport('recv')).rejects.toMatchObject({ code: 'invalid-state' });
    expect(refused.filter((l) => l === 'transports-per-peer')).toHaveLength(1);
    media.close();
  });

  it('the parent-closed path: closing the room’s media closes every unit and the routers take their objects', async () => {
    const media = new RoomMedia({ pool, log: silentLog, maxViewersPerRouter: 100 });
    const a = media.createPeerMedia('a');
    const b = media.createPeerMedia('b');
    const t = await a.createTransport('send');
    await b.createTransport('recv');
    media.close();
    expect([a.closed, b.closed, t.closed]).toEqual([true, true, true]);
    expect(a.transports.size + b.transports.size).toBe(0);
    await expect(a.createTransport('recv')).rejects.toMatchObject({ code: 'invalid-state' });
    expect(() => media.createPeerMedia('c')).toThrow();
  });
});
