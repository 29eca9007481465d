import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { ffprobe } from '../helpers/ffmpeg.js';
import { goLive, openPage, poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

const badgeShown = (page: Page) => page.locator('#rec-badge').isVisible();

// A browser broadcaster (simulcast VP8 and Opus from Chromium's fake devices) recorded, with
// the Recording badge on both stage pages while it lasts.
describe('recording a browser broadcaster (Chromium, the built pages)', () => {
  let node: Fourcast;
  let browser: Browser;
  let dir: string;
  const log: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-rec-e2e-'));
    node = await startTestNode({ RECORDING_DIR: dir });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 20).join('\n'));
    await browser?.close();
    await node?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('pages show the badge while the room is recorded; the file holds the broadcaster’s VP8 and Opus', async () => {
    const room = 'recorded-show';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Lena', ttlSeconds: 600 });
    const pub = await openPage(browser, `${node.urls.http}/broadcast.html?room=${room}&token=${token}&quality=low`, 'pub', log);
    await goLive(pub);
    const viewer = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Max`, 'viewer', log);
    await viewer.locator('#viewers').filter({ hasText: 'watching' }).waitFor();
    expect(await badgeShown(pub)).toBe(false);
    expect(await badgeShown(viewer)).toBe(false);

    const started = await node.recordings.start(room);
    const t0 = Date.now();
    for (const page of [pub, viewer]) await poll(() => badgeShown(page), (v) => v, 5000, 'the Recording badge');
    expect(await viewer.locator('#rec-badge').textContent()).toBe('Recording');
    // A page opened during the recording shows it from its join.
    const late = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Late`, 'late', log);
    await poll(() => badgeShown(late), (v) => v, 10_000, 'the badge on a late page');

    await new Promise((r) => setTimeout(r, 8000));
    const stopped = await node.recordings.stop(room);
    const wall = (Date.now() - t0) / 1000;
    for (const page of [pub, viewer, late]) await poll(() => badgeShown(page), (v) => !v, 5000, 'the badge to go');

    expect(started.segments).toHaveLength(1);
    const [seg] = stopped.segments;
    expect(seg).toMatchObject({ name: 'Lena', state: 'ended', endReason: 'stopped', exit: { code: 0 }, error: null });
    const probed = ffprobe(path.join(stopped.folder, seg!.file));
    expect(probed.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(['audio:opus', 'video:vp8']);
    console.log(`browser broadcaster recorded: ffprobe ${probed.duration} s, wall clock ${wall.toFixed(3)} s, ${seg!.bytes} bytes`);
    expect(Math.abs(probed.duration! - wall)).toBeLessThan(1);
  }, 120_000);
});
