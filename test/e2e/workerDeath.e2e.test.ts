import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { decodingAll, openPage, peerIdOf, poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

describe('worker death', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];
  let pub: Page;
  let viewer: Page;
  let pubId: string;

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '2', ROUTER_MAX_VIEWERS: '1' });
    browser = await launchChromium();
    const token = await node.tokens.mint({ role: 'publisher', room: 'wd', name: 'Caster', ttlSeconds: 3600 });
    pub = await openPage(browser, `${node.urls.http}/broadcast.html?room=wd&token=${token}&quality=low`, 'pub', log);
    await pub.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 20_000 });
    await pub.click('#go-live');
    await pub.waitForFunction(() => (globalThis as any).fourcast.state.live === true, null, { timeout: 20_000 });
    pubId = (await peerIdOf(pub))!;
    viewer = await openPage(browser, `${node.urls.http}/watch.html?room=wd`, 'viewer', log);
    await poll(() => decodingAll(viewer, [pubId]), (r) => r.ok, 30_000, 'viewer decoding');
  });
  afterAll(async () => {
    if (log.length) console.log(log.join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('recovers when the origin worker is SIGKILLed', async () => {
    const room = node.rooms.get('wd')!;
    const origin = await room.media.origin();
    process.kill(origin.worker.pid, 'SIGKILL');
    await poll(() => decodingAll(viewer, [pubId]), (r) => r.ok, 30_000, 'viewer decoding again');
    expect(room.publishers[0]!.producers.size).toBe(2);
  });

  it('recovers when a fan-out worker is SIGKILLed', async () => {
    const room = node.rooms.get('wd')!;
    const origin = await room.media.origin();
    const fan = room.media.all().find((rr) => rr !== origin);
    const target = fan ?? origin;
    process.kill(target.worker.pid, 'SIGKILL');
    await poll(() => decodingAll(viewer, [pubId]), (r) => r.ok, 30_000, 'viewer decoding again');
  });
});
