import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { openPage } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

// A full node (here: ROOMS_MAX rooms already open) refuses with `server-busy`; the page
// says so in words and joins by itself once the server has room again (client/src/lib/busy.ts).
describe('a full server, seen from the viewer page', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];

  beforeAll(async () => {
    node = await startTestNode({ ROOMS_MAX: '1', ROOM_GRACE_SECONDS: '0' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 20).join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('explains that the server is full, retries, and joins once a room closes', async () => {
    const holder = await TestClient.connect(`${node.urls.ws}?room=first`);
    await holder.request('join', {});
    const page = await openPage(browser, `${node.urls.http}/watch.html?room=second`, 'viewer', log);
    await page.waitForFunction(() => /as many rooms open as it allows.*Trying again in 5 s/.test((globalThis as any).document.querySelector('#banner')?.textContent ?? ''), null, {
      timeout: 15_000,
    });
    expect(await page.evaluate(() => (globalThis as any).fourcast?.stage?.info)).toBeUndefined();
    expect(node.rooms.get('second')).toBeUndefined();
    // The only room empties (no grace): the next attempt gets in, and the notice goes away.
    holder.close();
    await page.waitForFunction(() => (globalThis as any).fourcast?.stage?.info?.room === 'second', null, { timeout: 30_000 });
    expect(await page.locator('#banner').isHidden()).toBe(true);
    expect(node.rooms.get('second')?.viewerCount).toBe(1);
  });
});
