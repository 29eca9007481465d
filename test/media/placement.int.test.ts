import { afterEach, describe, expect, it } from 'vitest';
import { mediaCodecs } from '../../src/media/codecs.js';
import { RoomMedia } from '../../src/media/roomMedia.js';
import { WorkerPool, type MediaWorker, type WorkerPoolOptions } from '../../src/media/workerPool.js';
import { freePortRange } from '../helpers/ports.js';
import { silentLog } from '../helpers/pool.js';
import { opus, vp8 } from '../helpers/rtpParameters.js';

/**
 * Issue 12: placement counts routers and transports, a worker past its CPU headroom or not
 * answering gets nothing new, a full node refuses with `server-busy` at once, and a worker
 * that stays stopped is killed and replaced (real workers; SIGSTOP stands for a wedged one).
 */

async function pool(count: number, extra: Partial<WorkerPoolOptions> = {}): Promise<WorkerPool> {
  return WorkerPool.create({ count, logLevel: 'warn', listen: [{ ip: '127.0.0.1' }], portBase: await freePortRange(count), log: silentLog, ...extra });
}

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pins a worker's CPU figure, as if its samples said so (the sampler cannot overwrite it). */
function pinCpu(w: MediaWorker, cpu: number): void {
  Object.defineProperty(w, 'cpu', { get: () => cpu, set: () => undefined, configurable: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));

describe('worker placement, CPU headroom and unresponsive workers', () => {
  const pools: WorkerPool[] = [];
  const stopped: number[] = [];
  afterEach(async () => {
    for (const pid of stopped.splice(0)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
    for (const p of pools.splice(0)) {
      p.close();
      await p.exited(3000);
    }
  });

  it('the load score counts routers and transports, not only consumers', async () => {
    const p = await pool(2, { cpuSampleMs: 60_000 });
    pools.push(p);
    const [a, b] = p.workers as [MediaWorker, MediaWorker];
    expect(p.leastLoaded()!.index).toBe(0);
    // An idle router (what an empty room used to cost) moves the next placement elsewhere.
    const r = await a.worker.createRouter({ mediaCodecs });
    expect(a.routers).toBe(1);
    expect(p.leastLoaded()!.index).toBe(1);
    // Two routers and a transport on worker 1 outweigh worker 0's one router.
    const r1 = await b.worker.createRouter({ mediaCodecs });
    const r2 = await b.worker.createRouter({ mediaCodecs });
    const t = await r1.createWebRtcTransport({ webRtcServer: b.webRtcServer });
    expect([b.routers, b.transports]).toEqual([2, 1]);
    expect(p.leastLoaded()!.index).toBe(0);
    for (const x of [t, r, r1, r2]) x.close();
    expect([a.routers, b.routers, b.transports]).toEqual([0, 0, 0]);
  });

  it('rtpCapabilities come from the pool: asking for them creates no router', async () => {
    const p = await pool(1, { cpuSampleMs: 60_000 });
    pools.push(p);
    const media = new RoomMedia({ pool: p, log: silentLog, maxViewersPerRouter: 10 });
    const caps = await media.rtpCapabilities;
    expect(caps.codecs?.map((c) => c.mimeType)).toEqual(expect.arrayContaining(['audio/opus', 'video/VP8']));
    expect(media.hasOrigin).toBe(false);
    expect((await p.workers[0]!.worker.dump()).routerIds).toEqual([]);
    // The same capabilities a real router of the room has.
    const origin = await media.origin();
    expect(origin.router.rtpCapabilities).toEqual(caps);
    media.close();
  });

  it('a worker past its CPU headroom gets no new viewers and no new rooms', async () => {
    const p = await pool(2, { cpuSampleMs: 60_000, cpuHeadroom: 0.85 });
    pools.push(p);
    const [hot, cool] = p.workers as [MediaWorker, MediaWorker];
    pinCpu(hot, 0.95);
    expect(p.byLoad().map((w) => w.index)).toEqual([1]);
    // New rooms: every origin goes to the cool worker, however its load grows.
    const rooms = Array.from({ length: 3 }, () => new RoomMedia({ pool: p, log: silentLog, maxViewersPerRouter: 1 }));
    for (const m of rooms) expect((await m.origin()).workerIndex).toBe(1);
    // Viewers: past the per-router cap they overflow on the cool worker instead of opening a router on the hot one.
    const m = rooms[0]!;
    const viewers = Array.from({ length: 4 }, (_, i) => m.createPeerMedia(`v${i}`));
    for (const v of viewers) await v.createTransport('recv');
    expect(viewers.map((v) => v.recvRouter!.workerIndex)).toEqual([1, 1, 1, 1]);
    expect(hot.routers).toBe(0);
    expect(cool.routers).toBe(3);
    for (const r of rooms) r.close();
  });

  it('a full node refuses new routers and viewers with server-busy at once, and counts it', async () => {
    let busy = 0;
    const p = await pool(2, { cpuSampleMs: 60_000, onServerBusy: () => busy++ });
    pools.push(p);
    const room = new RoomMedia({ pool: p, log: silentLog, maxViewersPerRouter: 100 });
    const pub = room.createPeerMedia('pub');
    await pub.createTransport('send');
    for (const w of p.workers) pinCpu(w, 0.99);
    // A room whose first broadcaster arrives now needs a router: refused, without waiting on anything.
    const fresh = new RoomMedia({ pool: p, log: silentLog, maxViewersPerRouter: 100 });
    const routers = p.workers.map((w) => w.routers);
    expect(await code(fresh.createPeerMedia('pub2').createTransport('send'))).toBe('server-busy');
    expect(p.workers.map((w) => w.routers)).toEqual(routers);
    // A new viewer of the existing room is refused too; the broadcaster already on a worker keeps sending.
    expect(await code(room.createPeerMedia('viewer').createTransport('recv'))).toBe('server-busy');
    expect(await code(pub.createTransport('send'))).toBe('ok');
    expect(busy).toBe(2);
    // Headroom again: the same requests succeed.
    for (const w of p.workers) pinCpu(w, 0.1);
    expect(await code(fresh.createPeerMedia('pub3').createTransport('send'))).toBe('ok');
    room.close();
    fresh.close();
  });

  it('the packet budget: each receiver reserves its rate at placement, pipelined placements never pass it, a full node refuses new rooms too', async () => {
    let busy = 0;
    // Two receivers per worker.
    const p = await pool(2, { cpuSampleMs: 60_000, maxPacketRate: 800, viewerPacketRate: 400, onServerBusy: () => busy++ });
    pools.push(p);
    expect(p.viewersPerWorker).toBe(2);
    const room = new RoomMedia({ pool: p, log: silentLog, maxViewersPerRouter: 100 });
    const pub = room.createPeerMedia('pub');
    await pub.createTransport('send');
    const viewers = Array.from({ length: 7 }, (_, i) => room.createPeerMedia(`v${i}`));
    // All seven in flight at once, while the second worker's fan-out router is still being created.
    const codes = await Promise.all(viewers.map((v) => code(v.createTransport('recv'))));
    expect(codes.filter((c) => c === 'ok')).toHaveLength(4);
    expect(codes.filter((c) => c === 'server-busy')).toHaveLength(3);
    expect(p.workers.map((w) => w.viewers)).toEqual([2, 2]);
    expect(p.workers.map((w) => p.budgetUsed(w))).toEqual([1, 1]);
    expect(busy).toBe(3);
    // A new room needs a router: no worker has budget left for it.
    const other = new RoomMedia({ pool: p, log: silentLog, maxViewersPerRouter: 100 });
    expect(await code(other.createPeerMedia('pub2').createTransport('send'))).toBe('server-busy');
    // A viewer leaves: its reservation frees on its worker, and the next viewer lands there.
    const leaver = viewers[codes.indexOf('ok')]!;
    const freed = leaver.recvRouter!.workerIndex;
    leaver.close();
    expect(p.workers[freed]!.viewers).toBe(1);
    const late = room.createPeerMedia('late');
    expect(await code(late.createTransport('recv'))).toBe('ok');
    expect(late.recvRouter!.workerIndex).toBe(freed);
    expect(await code(room.createPeerMedia('later').createTransport('recv'))).toBe('server-busy');
    // A broadcaster watching its co-hosts is placed past the budget.
    expect(await code(pub.createTransport('recv', { stage: true }))).toBe('ok');
    expect(p.workers.map((w) => w.viewers).sort()).toEqual([2, 3]);
    room.close();
    other.close();
  });

  it('a stopped worker leaves placement at once, is killed after missing its samples, and is replaced; rooms lose their routers', async () => {
    const p = await pool(2, { cpuSampleMs: 150, unresponsiveSamples: 2 });
    pools.push(p);
    const room = new RoomMedia({ pool: p, log: silentLog, maxViewersPerRouter: 100 });
    const pub = room.createPeerMedia('pub');
    const send = await pub.createTransport('send');
    await pub.produce(send, { kind: 'audio', rtpParameters: opus(7), source: 'mic', keyFrameRequestDelay: 0 });
    const origin = await room.origin();
    const victim = origin.worker;
    const pid = victim.pid;
    const lost: boolean[] = [];
    room.on('routerlost', (_rr, wasOrigin) => lost.push(wasOrigin));
    const died: number[] = [];
    p.on('workerdied', (i) => died.push(i));
    const replaced = new Promise<MediaWorker>((resolve) => p.once('workerreplaced', resolve));

    process.kill(pid, 'SIGSTOP');
    stopped.push(pid);
    await until(() => victim.unresponsive, 3000, 'the stopped worker reported unresponsive');
    expect(p.byLoad().map((w) => w.index)).not.toContain(victim.index);
    expect(p.unresponsive()).toContain(victim.index);

    // Killed (SIGKILL works on a stopped process) and replaced at the same index through the death path.
    const fresh = await replaced;
    expect(died).toEqual([victim.index]);
    expect(alive(pid)).toBe(false);
    expect(fresh.index).toBe(victim.index);
    expect(fresh.pid).not.toBe(pid);
    expect(p.workers[victim.index]).toBe(fresh);
    expect(lost).toEqual([true]);
    expect(pub.affectedBy(origin)).toBe(true);
    await until(() => p.unresponsive().length === 0, 3000, 'no worker reported unresponsive');

    // The room works again: a new origin on a live worker.
    pub.reset();
    const again = await pub.createTransport('send');
    expect(again.closed).toBe(false);
    const producer = await pub.produce(again, { kind: 'video', rtpParameters: vp8(8), source: 'camera', keyFrameRequestDelay: 0 });
    expect(producer.closed).toBe(false);
    room.close();
  }, 20_000);

  it('closing never waits behind a stopped worker', async () => {
    // Never killed by the sampler here: only reported unresponsive.
    const p = await pool(1, { cpuSampleMs: 150, unresponsiveSamples: 1_000_000 });
    pools.push(p);
    const room = new RoomMedia({ pool: p, log: silentLog, maxViewersPerRouter: 100 });
    const pub = room.createPeerMedia('pub');
    await pub.createTransport('send');
    const viewer = room.createPeerMedia('viewer');
    await viewer.createTransport('recv');
    const w = p.workers[0]!;
    process.kill(w.pid, 'SIGSTOP');
    stopped.push(w.pid);
    await until(() => w.unresponsive, 3000, 'the stopped worker reported unresponsive');
    // Closing is synchronous: nothing awaits the dead channel.
    viewer.close();
    room.close();
    expect([viewer.closed, pub.closed, room.closed]).toEqual([true, true, true]);
    // The pool kills what does not answer instead of waiting for it to act on the close.
    p.close();
    expect(await p.exited(2000)).toBe(true);
    expect(alive(w.pid)).toBe(false);
  });
});
