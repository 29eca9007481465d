import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { openPage, poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

describe('chat in Chromium', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];
  let broadcaster: Page;
  const viewers: Page[] = [];

  const chatTexts = (p: Page) => p.locator('.chat .msg .text').allTextContents();
  const send = async (p: Page, text: string) => {
    await p.fill('.chat-form input', text);
    await p.press('.chat-form input', 'Enter');
  };

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1' });
    browser = await launchChromium();
    const token = await node.tokens.mint({ role: 'publisher', room: 'chat-e2e', name: 'Host', ttlSeconds: 600 });
    broadcaster = await openPage(browser, `${node.urls.http}/broadcast.html?room=chat-e2e&token=${token}&quality=low`, 'host', log);
    for (let i = 0; i < 3; i++) viewers.push(await openPage(browser, `${node.urls.http}/watch.html?room=chat-e2e&name=Viewer${i}`, `v${i}`, log));
    for (const p of [broadcaster, ...viewers]) await p.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 20_000 });
  });
  afterAll(async () => {
    if (log.length) console.log(log.join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('a message typed by one viewer appears for the other viewers and the broadcaster', async () => {
    await send(viewers[0]!, 'hello from viewer 0');
    for (const p of [broadcaster, ...viewers]) await poll(() => chatTexts(p), (t) => t.includes('hello from viewer 0'), 10_000, 'message shown');
    await send(broadcaster, 'welcome, everyone');
    for (const p of viewers) await poll(() => chatTexts(p), (t) => t.at(-1) === 'welcome, everyone', 10_000, 'host message shown');
    expect(await viewers[1]!.locator('.chat .msg .who').allTextContents()).toEqual(['Viewer0', 'Host']);
  });

  it('shows HTML in a message as text and never runs it', async () => {
    const evil = '<img src=x onerror="window.__pwned=1"><b>bold?</b>';
    await send(viewers[1]!, evil);
    for (const p of [broadcaster, ...viewers]) {
      await poll(() => chatTexts(p), (t) => t.includes(evil), 10_000, 'raw text shown');
      expect(await p.locator('.chat img, .chat b').count()).toBe(0);
      expect(await p.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
    }
  });

  it('a moderator’s delete removes the message everywhere', async () => {
    await send(viewers[2]!, 'delete me');
    await poll(() => chatTexts(broadcaster), (t) => t.includes('delete me'), 10_000, 'message at host');
    // Delete asks for a second press (no one-click deletes).
    const del = broadcaster.locator('.chat .msg', { hasText: 'delete me' }).locator('button.mod');
    await del.click();
    expect(await del.textContent()).toBe('Delete?');
    await del.click();
    for (const p of [broadcaster, ...viewers]) await poll(() => chatTexts(p), (t) => !t.includes('delete me') && t.includes('Message deleted by a moderator'), 10_000, 'message gone, placeholder shown');
  });

  it('a reconnecting page shows no duplicates and no holes', async () => {
    const v = viewers[0]!;
    const before = await chatTexts(v);
    // Drop the socket from the page side, as a network blip would.
    await v.evaluate(() => (globalThis as any).fourcast.signaling.ws.close(3001, 'blip'));
    await send(viewers[1]!, 'sent during the blip');
    await poll(() => chatTexts(v), (t) => t.includes('sent during the blip'), 15_000, 'missed message replayed');
    const after = await chatTexts(v);
    expect(after).toEqual([...before, 'sent during the blip']);
  });
});
