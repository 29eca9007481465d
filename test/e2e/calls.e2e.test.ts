import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { mediaRequests, openRecordingMedia, peerIdOf, poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

const asked = async (p: Page) => (await mediaRequests(p)).length;
const phase = (p: Page) => p.evaluate(() => (globalThis as any).fourcast.call.phase as string);
const ended = (p: Page) => p.evaluate(() => (globalThis as any).fourcast.call.ended as { reason: string; message: string } | undefined);
const callText = (p: Page) => p.textContent('#call-state');
/** Frames of the other side's video presented in the call view. */
const remoteFrames = (p: Page) => p.evaluate(() => (globalThis as any).document.querySelector('.call-remote').getVideoPlaybackQuality().totalVideoFrames as number);

/** Opens the People list and clicks "Call" for `name`. */
async function callFromList(page: Page, peerId: string, name: string): Promise<void> {
  if (!(await page.evaluate(() => (globalThis as any).document.querySelector('.people').open as boolean))) await page.click('.people summary');
  await page.click(`.people li[data-peer="${peerId}"] button[aria-label="Call ${name} (private video call)"]`);
}

// Private 1:1 calls as people make them: from the participant list of the watch page, an
// incoming-call dialog, a call view that shows the other side, and "call ended" with the
// reason when either side hangs up or goes away.
describe('private calls (Chromium pages)', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];

  beforeAll(async () => {
    node = await startTestNode();
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 20).join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('A calls B, B accepts, each decodes the other; hang-up, a closed tab and a busy callee end it in words', async () => {
    const room = 'calls-e2e';
    const url = (name: string) => `${node.urls.http}/watch.html?room=${room}&name=${name}`;
    const a = await openRecordingMedia(browser, url('Ada'), 'ada', log);
    const b = await openRecordingMedia(browser, url('Bob'), 'bob', log);
    const bId = (await peerIdOf(b))!;
    await a.waitForSelector(`.people li[data-peer="${bId}"]`, { state: 'attached', timeout: 10_000 });

    await callFromList(a, bId, 'Bob');
    await b.waitForSelector('#call-accept:visible', { timeout: 10_000 });
    expect(await callText(b)).toBe('Ada is calling you (video call). Your camera and microphone open only if you accept.');
    expect(await callText(a)).toBe('Calling Bob… (ringing)');
    // The caller's camera is ready first; the callee's is not asked for before it accepts.
    expect(await asked(a)).toBe(1);
    expect(await asked(b)).toBe(0);
    const acceptedAt = Date.now();
    await b.click('#call-accept');
    for (const p of [a, b]) await poll(() => phase(p), (x) => x === 'active', 20_000, 'the call active', () => callText(p));
    expect(await asked(b)).toBe(1);
    for (const p of [a, b]) {
      const f0 = await poll(() => remoteFrames(p), (n) => n > 0, 20_000, 'the other side’s video decoded');
      await poll(() => remoteFrames(p), (n) => n > f0 + 10, 10_000, 'the other side’s video keeps playing');
    }
    console.log(`call: accept → both sides decode the other's video ${Date.now() - acceptedAt} ms`);
    expect(await callText(a)).toBe('In a private call with Bob. The audience cannot see or hear it.');
    // Not on stage, not visible to the audience.
    expect(node.rooms.get(room)!.stage.size).toBe(0);

    await a.click('#call-hangup');
    await poll(() => phase(b), (x) => x === 'ended', 10_000, 'B told the call ended');
    expect(await ended(b)).toEqual({ reason: 'hung-up', message: 'Ada hung up' });
    expect(await callText(b)).toBe('Call ended: Ada hung up');
    expect(await b.isVisible('#call-close')).toBe(true);
    await b.click('#call-close');

    // Again, and this time B closes the tab: A is told within seconds.
    await callFromList(a, bId, 'Bob');
    await b.waitForSelector('#call-accept:visible', { timeout: 10_000 });
    await b.click('#call-accept');
    await poll(() => phase(a), (x) => x === 'active', 20_000, 'the second call active');
    // A third person calling someone in a call hears "busy".
    const c = await openRecordingMedia(browser, url('Cyd'), 'cyd', log);
    await c.waitForSelector(`.people li[data-peer="${bId}"]`, { state: 'attached', timeout: 10_000 });
    await c.evaluate((id) => (globalThis as any).fourcast.call.call({ peerId: id, name: 'Bob' }), bId);
    await poll(() => ended(c), (e) => e?.reason === 'busy', 10_000, 'busy');
    expect(await callText(c)).toBe('Call ended: Bob is in another call');
    // While it lasts, the list marks both as in a call and offers no Call button for them.
    await poll(() => c.textContent(`.people li[data-peer="${bId}"]`), (t) => /In a call/.test(t ?? ''), 10_000, 'marked in a call');

    const closedAt = Date.now();
    await b.close();
    await poll(() => phase(a), (x) => x === 'ended', 10_000, 'A told the call ended');
    expect(Date.now() - closedAt).toBeLessThan(10_000);
    console.log(`call: B's tab closed → A shows "call ended" ${Date.now() - closedAt} ms`);
    expect(await ended(a)).toEqual({ reason: 'disconnected', message: 'Bob disconnected' });
    expect(node.rooms.get(room)!.calls.list()).toEqual([]);
  }, 180_000);
});
