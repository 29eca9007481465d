import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { openPage, peerIdOf, poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

// The pages tell the truth: the LIVE badge, the tile states and refused links.

const tileState = (p: Page, peerId: string) => p.locator(`.tile[data-peer="${peerId}"]`).getAttribute('data-state');
const liveState = (p: Page) => p.locator('#live-state').getAttribute('data-state');

describe('broadcaster page with an unreachable media address', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];

  beforeAll(async () => {
    // The worker binds 127.0.0.1 but tells browsers 127.0.0.2, where nothing listens:
    // what a wrong RTC_ANNOUNCED_ADDRESS or a firewalled media port looks like, on loopback.
    node = await startTestNode({ RTC_ANNOUNCED_ADDRESS: '127.0.0.2' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('never shows LIVE, names the likely causes, and keeps retrying', async () => {
    const token = await node.tokens.mint({ role: 'publisher', room: 'blocked', name: 'Cast', ttlSeconds: 600 });
    const page = await openPage(browser, `${node.urls.http}/broadcast.html?room=blocked&token=${token}&quality=low`, 'cast', log);
    await page.waitForSelector('#go-live:not([disabled])', { timeout: 20_000 });
    await page.waitForFunction(() => (globalThis as any).fourcast?.stage, null, { timeout: 20_000 });
    await page.evaluate(() => {
      const g = globalThis as any;
      g.sendStates = [];
      g.fourcast.stage.on('transport', (e: { direction: string; state: string }) => e.direction === 'send' && g.sendStates.push(e.state));
    });
    await page.click('#go-live');
    await poll(() => liveState(page), (s) => s === 'connecting', 10_000, 'connecting');
    await poll(() => liveState(page), (s) => s === 'failed', 20_000, 'failed');
    expect(await page.textContent('#live-state')).toMatch(/not reaching the server.*RTC_ANNOUNCED_ADDRESS.*firewall.*TURN.*Retrying/);
    expect(await page.locator('#live-badge').isHidden()).toBe(true);
    expect(await page.evaluate(() => (globalThis as any).fourcast.state.live)).toBe(false);
    // Stop stays available while it retries.
    expect(await page.locator('#stop').isDisabled()).toBe(false);
    // Once ICE gives up, the page restarts it (fresh credentials from restartIce): the transport tries again.
    const states = () => page.evaluate(() => (globalThis as any).sendStates as string[]);
    await poll(states, (s) => s.includes('failed') && s.lastIndexOf('connecting') > s.indexOf('failed'), 60_000, 'an ICE restart after failure');
    expect(await liveState(page)).toBe('failed');
  });
});

describe('viewer tiles and refused links', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];
  let caster: Page;
  let casterId: string;

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1' });
    browser = await launchChromium();
    const token = await node.tokens.mint({ role: 'publisher', room: 'tiles', name: 'Cast', ttlSeconds: 600 });
    caster = await openPage(browser, `${node.urls.http}/broadcast.html?room=tiles&token=${token}&quality=low`, 'cast', log);
    await caster.waitForSelector('#go-live:not([disabled])', { timeout: 20_000 });
    expect(await liveState(caster)).toBe('idle');
    await caster.click('#go-live');
    await caster.waitForSelector('#live-badge:not(.hidden)', { timeout: 20_000 });
    casterId = (await peerIdOf(caster))!;
  });
  afterAll(async () => {
    if (log.length) console.log(log.join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('a tile goes live, shows camera off, and reconnecting while the socket is down', async () => {
    const viewer = await openPage(browser, `${node.urls.http}/watch.html?room=tiles`, 'viewer', log);
    await poll(() => tileState(viewer, casterId).catch(() => null), (s) => s === 'live', 20_000, 'tile live');
    expect(await viewer.locator(`.tile[data-peer="${casterId}"] .tile-state`).isHidden()).toBe(true);

    await caster.click('#mute-cam');
    await poll(() => tileState(viewer, casterId), (s) => s === 'camera-off', 10_000, 'camera off');
    expect(await viewer.textContent(`.tile[data-peer="${casterId}"] .tile-state`)).toBe('Camera off');
    await caster.click('#mute-cam');
    await poll(() => tileState(viewer, casterId), (s) => s === 'live', 10_000, 'live again');

    // A dropped socket: the tile says so instead of freezing, then recovers by itself.
    await viewer.evaluate((id) => {
      const g = globalThis as any;
      const tile = g.document.querySelector(`.tile[data-peer="${id}"]`);
      g.tileHistory = [];
      new g.MutationObserver(() => g.tileHistory.push(tile.dataset.state)).observe(tile, { attributes: true, attributeFilter: ['data-state'] });
      g.fourcast.signaling.ws.close(3001, 'network blip');
    }, casterId);
    await poll(() => tileState(viewer, casterId), (s) => s === 'live', 20_000, 'live after reconnect');
    const history = (await viewer.evaluate(() => (globalThis as any).tileHistory)) as string[];
    expect(history[0]).toBe('reconnecting');
    expect(history.at(-1)).toBe('live');
  });

  it('an expired, a wrong-room and a banned link each say why, and nothing retries', async () => {
    const expired = await node.tokens.mint({ role: 'publisher', room: 'tiles', name: 'Late', ttlSeconds: -60 });
    const elsewhere = await node.tokens.mint({ role: 'publisher', room: 'other', name: 'Lost', ttlSeconds: 600 });
    const cases: [string, RegExp][] = [
      [`/broadcast.html?room=tiles&token=${expired}`, /refused.*expired.*new link/i],
      [`/broadcast.html?room=tiles&token=${elsewhere}`, /refused.*for room "other", not "tiles"/i],
    ];
    for (const [path, message] of cases) {
      const page = await openPage(browser, `${node.urls.http}${path}`, 'refused', log);
      await page.waitForSelector('#banner', { timeout: 15_000 });
      expect(await page.textContent('#banner')).toMatch(message);
      expect(await page.locator('#go-live').isDisabled()).toBe(true);
      await page.context().close();
    }

    // Ban an anonymous viewer (by address), then its page reloads: refused, with the reason.
    const viewer = await openPage(browser, `${node.urls.http}/watch.html?room=tiles&name=Troll`, 'troll', log);
    await viewer.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 20_000 });
    const trollId = (await peerIdOf(viewer))!;
    await caster.evaluate((id) => (globalThis as any).fourcast.signaling.request('ban', { peerId: id, reason: 'spam' }), trollId);
    await viewer.reload();
    await viewer.waitForSelector('#banner', { timeout: 15_000 });
    expect(await viewer.textContent('#banner')).toMatch(/refused.*banned/i);
    expect(await viewer.textContent('#status')).toMatch(/^refused$/i);
    // Refused is final: the page does not keep knocking.
    const attempts = await viewer.evaluate(() => (globalThis as any).fourcast.signaling.attempt as number);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await viewer.evaluate(() => (globalThis as any).fourcast.signaling.attempt as number)).toBe(attempts);
  });
});
