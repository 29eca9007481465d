import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { decodingAll, goLive, openPage, poll } from '../helpers/pages.js';
import { timeOrigin } from '../helpers/pageEvents.js';
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

// A worker that stops answering for a while (here SIGSTOP; in life an overloaded host)
// leaves placement, so a viewer arriving then is refused its receive transport with
// `server-busy`. The page asks again by itself (client/src/lib/stage.ts retryConsume) and
// decodes once the worker answers, with no reload. The worker is not killed meanwhile
// (WORKER_UNRESPONSIVE_SAMPLES raised), so nothing else would make the page consume again.
describe('a media worker that stops answering for a moment, seen from the viewer page', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];
  const busyRefusals = async () => {
    const text = await (await fetch(`${node.urls.http}/metrics`)).text();
    return Number(/^fourcast_limit_refusals_total\{limit="server-busy"\} (\d+)/m.exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1', WORKER_UNRESPONSIVE_SAMPLES: '1000' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 20).join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('a viewer refused for now asks again and decodes once the worker answers, without a reload', async () => {
    const room = 'stalled';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Caster', ttlSeconds: 600 });
    const pub = await openPage(browser, `${node.urls.http}/broadcast.html?room=${room}&token=${token}&quality=low`, 'pub', log);
    const casterId = await goLive(pub);

    const worker = node.pool.workers[0]!;
    const pid = worker.pid;
    const before = await busyRefusals();
    process.kill(pid, 'SIGSTOP');
    let viewer;
    try {
      await poll(async () => node.pool.unresponsive(), (ids) => ids.length === 1, 15_000, 'the worker out of placement');
      viewer = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Late`, 'viewer', log);
      await poll(busyRefusals, (n) => n > before, 20_000, "the viewer's receive transport refused with server-busy");
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const origin = await timeOrigin(viewer);
    await poll(() => decodingAll(viewer, [casterId]), (r) => r.ok, 45_000, 'the viewer decoding after the worker answers again');
    expect(node.pool.workers[0]!.pid).toBe(pid); // not replaced: the page's own retry did it
    expect(await timeOrigin(viewer)).toBe(origin);
  });
});
