import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { startTestNode } from '../helpers/server.js';

let node: Fourcast;
let browser: Browser;
beforeAll(async () => {
  node = await startTestNode({ MEDIASOUP_WORKERS: '2' });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await node?.close();
});

it('one broadcaster, one viewer', async () => {
  const token = await node.tokens.mint({ role: 'publisher', room: 'r1', name: 'Alice', ttlSeconds: 600 });
  const pub = await (await browser.newContext()).newPage();
  pub.on('console', (m) => console.log('[pub]', m.text()));
  await pub.goto(`${node.urls.http}/broadcast.html?room=r1&token=${token}&quality=low`);
  await pub.click('#go-live');
  await pub.waitForFunction(() => (window as any).fourcast?.state?.live === true, null, { timeout: 20000 });
  const viewer = await (await browser.newContext()).newPage();
  viewer.on('console', (m) => console.log('[viewer]', m.text()));
  await viewer.goto(`${node.urls.http}/watch.html?room=r1&name=Bob`);
  let stats: any = {};
  for (let i = 0; i < 60; i++) {
    stats = await viewer.evaluate(() => (window as any).fourcast?.stage?.stats() ?? {});
    if (Object.values(stats).some((x: any) => x.framesDecoded > 10)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(stats);
  expect(Object.keys(stats)).toHaveLength(1);
});
