import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { RoomRouter } from '../../src/media/roomMedia.js';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { decodingAll, openPage, peerIdOf, poll } from '../helpers/pages.js';
import { framesAfterReset, recordNotifications, recordedNotifications, timeOrigin } from '../helpers/pageEvents.js';
import { startTestNode } from '../helpers/server.js';

// One broadcaster and several viewers in Chromium; mediasoup workers are
// SIGKILLed under them. Two workers and one viewer per router: receivers are
// spread over the origin router and a fan-out router on the other worker.
describe('worker death', () => {
  const ROOM = 'wd';
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];
  let pub: Page;
  let pubId: string;
  const viewers: Page[] = [];
  /** performance.timeOrigin of every page when it was opened: a reload would change it. */
  const origins = new Map<Page, number>();

  const room = () => node.rooms.get(ROOM)!;
  const resetCount = async (page: Page) => (await recordedNotifications(page, 'mediaReset')).length;

  /** The viewer pages whose peer receives from `rr`. */
  const viewersOn = async (rr: RoomRouter): Promise<Page[]> => {
    const ids = await Promise.all(viewers.map(peerIdOf));
    return viewers.filter((_, i) => room().peers.get(ids[i]!)?.recvRouter === rr);
  };

  const openViewer = async (label: string): Promise<Page> => {
    const page = await openPage(browser, `${node.urls.http}/watch.html?room=${ROOM}&name=${label}`, label, log);
    await recordNotifications(page, 'mediaReset');
    origins.set(page, await timeOrigin(page));
    // One at a time: each viewer is placed before the next one joins.
    await poll(() => decodingAll(page, [pubId]), (r) => r.ok, 30_000, `${label} decoding`);
    viewers.push(page);
    return page;
  };

  /**
   * Kills a worker and follows the affected viewers: each must get a mediaReset
   * and decode again in the same document; the time from the kill to their
   * first frame after the reset is logged (not asserted).
   */
  const killAndRecover = async (rr: RoomRouter, what: string) => {
    const affected = await viewersOn(rr);
    const unaffected = viewers.filter((v) => !affected.includes(v));
    const resetsBefore = new Map(await Promise.all([pub, ...viewers].map(async (p) => [p, await resetCount(p)] as const)));

    const killedAt = Date.now();
    process.kill(rr.worker.pid, 'SIGKILL');
    const recovered = await Promise.all(affected.map((v) => framesAfterReset(v, [pubId], resetsBefore.get(v)!, 30_000)));
    for (const [i, v] of affected.entries()) {
      const reset = (await recordedNotifications(v, 'mediaReset')).at(-1)!;
      console.log(`${what}: viewer ${await peerIdOf(v)} got mediaReset ${reset.at - killedAt} ms after the kill, decoded video again after ${recovered[i]! - killedAt} ms`);
    }
    for (const v of viewers) await poll(() => decodingAll(v, [pubId]), (r) => r.ok, 30_000, 'every viewer decoding again');

    // Exactly one reset for each affected viewer; the others kept their transports.
    for (const v of affected) {
      const resets = await recordedNotifications(v, 'mediaReset');
      expect(resets).toHaveLength(resetsBefore.get(v)! + 1);
      expect(resets.at(-1)!.data.reason).toMatch(/restarted/);
    }
    for (const v of unaffected) expect(await resetCount(v)).toBe(resetsBefore.get(v)!);
    // Nothing was reloaded: same documents.
    for (const p of [pub, ...viewers]) expect(await timeOrigin(p)).toBe(origins.get(p));
    return { affected, unaffected, resetsBefore };
  };

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '2', ROUTER_MAX_VIEWERS: '1' });
    browser = await launchChromium();
    const token = await node.tokens.mint({ role: 'publisher', room: ROOM, name: 'Caster', ttlSeconds: 3600 });
    pub = await openPage(browser, `${node.urls.http}/broadcast.html?room=${ROOM}&token=${token}&quality=low`, 'pub', log);
    await pub.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 20_000 });
    await recordNotifications(pub, 'mediaReset');
    origins.set(pub, await timeOrigin(pub));
    await pub.click('#go-live');
    await pub.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: 20_000 });
    pubId = (await peerIdOf(pub))!;
    // The broadcaster's page receives too: with three viewers, four receivers fill
    // two routers of one viewer each and then overflow, two per router.
    for (let i = 0; i < 3; i++) await openViewer(`viewer${i}`);
  });
  afterAll(async () => {
    if (log.length) console.log(log.join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('recovers when the origin worker is SIGKILLed', async () => {
    const origin = await room().media.origin();
    expect(await viewersOn(origin), 'a viewer receives from the origin router').not.toHaveLength(0);
    const pubResets = await resetCount(pub);

    await killAndRecover(origin, 'origin worker killed');
    // The broadcaster's send transport was on the origin: it was reset and published again.
    expect(await resetCount(pub)).toBeGreaterThan(pubResets);
    expect(room().stage.peers[0]!.producers.size).toBe(2);
    expect(await room().media.origin()).not.toBe(origin);
  });

  it('recovers when a fan-out worker is SIGKILLed', async () => {
    // The killed worker is back (same index, new process) before a fan-out router can go on it.
    await poll(async () => node.pool.workers.filter((w) => !w.closed).length, (n) => n === 2, 15_000, 'both workers up');
    // After the origin's death its viewers may all have gone to the promoted router:
    // the next viewer finds that router full and gets a fan-out router on the other worker.
    await openViewer('viewer3');

    const origin = await room().media.origin();
    const fanOuts = room().media.all().filter((rr) => rr !== origin && !rr.closed);
    expect(fanOuts, 'a fan-out router exists').toHaveLength(1);
    const fan = fanOuts[0]!;
    expect(fan.workerIndex).not.toBe(origin.workerIndex);
    expect(fan.worker.pid).not.toBe(origin.worker.pid);
    expect(await viewersOn(fan), 'a viewer receives from the fan-out router').not.toHaveLength(0);
    expect(await viewersOn(origin), 'a viewer receives from the origin router').not.toHaveLength(0);

    const { affected } = await killAndRecover(fan, 'fan-out worker killed');
    expect(affected.length).toBeGreaterThan(0);
    // The origin and its producers were untouched.
    expect(await room().media.origin()).toBe(origin);
    expect(origin.closed).toBe(false);
    expect(room().stage.peers[0]!.producers.size).toBe(2);
  });
});
