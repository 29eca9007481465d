import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './helpers/browser.js';
import { poll } from './helpers/pages.js';
import { startShippedNode, type ShippedNode } from './helpers/shippedNode.js';

// The product as shipped: the built artefact started by `npm start` with the
// default configuration (only the ports moved off the defaults), its printed
// links opened in Chromium the way a person opens them. Nothing from src/ is
// imported here: what this sees is what a user gets.

describe('npm start, as shipped', () => {
  let node: ShippedNode;
  let browser: Browser;
  const errors: string[] = [];
  let links: ShippedNode['links'];
  const out = () => node.output();

  beforeAll(async () => {
    // globalSetup ran `npm run build`, as scripts/setup.sh does.
    node = await startShippedNode();
    links = node.links;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await node?.stop();
    if (errors.length) console.log(errors.join('\n'));
  });

  async function open(url: string, label: string): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on('pageerror', (e) => errors.push(`[${label}] pageerror ${e.message}`));
    await page.goto(url);
    return page;
  }

  it('prints a broadcaster link, a viewer link and the media addresses it chose', () => {
    expect(links.broadcast).toMatch(/^http:\/\/localhost:\d+\/broadcast\.html\?room=main-stage&token=[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(links.watch).toMatch(/^http:\/\/localhost:\d+\/watch\.html\?room=main-stage$/);
    // Listening on 0.0.0.0 with nothing announced: loopback is among the detected addresses.
    expect(out()).toMatch(/Media \(WebRTC\) at .*127\.0\.0\.1.*\(detected;/);
    // A routed address among them (a machine on a network) also gets a viewer link others can open.
    const lan = /Media \(WebRTC\) at ([^,\s]+),/.exec(out())?.[1];
    if (lan && lan !== '127.0.0.1') expect(out()).toContain(`Viewer link for other machines on this network:\n    http://${lan}:${new URL(links.watch).port}/watch.html?room=main-stage`);
  });

  it('serves only built assets, each with its proper MIME type', async () => {
    const base = new URL(links.watch).origin;
    const assets = new Set<string>();
    for (const page of ['/', '/watch.html', '/broadcast.html']) {
      const res = await fetch(base + page);
      expect(res.status, page).toBe(200);
      expect(res.headers.get('content-type'), page).toMatch(/^text\/html/);
      const html = await res.text();
      for (const m of html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/g)) assets.add(new URL(m[1]!, base + page).pathname);
    }
    expect([...assets].some((a) => a.endsWith('.js'))).toBe(true);
    expect([...assets].some((a) => a.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      expect(asset, 'a page references source, not the build').not.toMatch(/\.ts$|\/src\//);
      const res = await fetch(base + asset);
      expect(res.status, asset).toBe(200);
      const type = res.headers.get('content-type') ?? '';
      if (asset.endsWith('.js')) expect(type, asset).toMatch(/^(text|application)\/javascript/);
      else if (asset.endsWith('.css')) expect(type, asset).toMatch(/^text\/css/);
    }
  });

  it('a broadcaster goes live from the printed link, a viewer decodes frames, chat crosses both ways, the viewer joins the stage when invited', async () => {
    const caster = await open(links.broadcast, 'broadcaster');
    await caster.waitForSelector('#go-live:not([disabled])', { timeout: 20_000 });
    expect(await caster.locator('#live-badge').isHidden()).toBe(true);
    await caster.click('#go-live');
    // LIVE only once the send transport is connected and bytes flow.
    await caster.waitForSelector('#live-badge:not(.hidden)', { timeout: 20_000 });
    expect(await caster.locator('#live-state').getAttribute('data-state')).toBe('live');
    const sent = await caster.evaluate(() => (globalThis as any).fourcast.stage.bytesSent() as Promise<number>);
    expect(sent).toBeGreaterThan(0);

    const viewer = await open(links.watch, 'viewer');
    const t0 = Date.now();
    // Frames presented by the tile's <video>: what the person sees.
    const frames = () => viewer.evaluate(() => ((globalThis as any).document.querySelector('.tile video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0) as number);
    await poll(frames, (n) => n >= 30, 15_000, 'the viewer to present 30 frames');
    console.log(`as shipped: viewer presented 30 frames ${Date.now() - t0} ms after navigation`);
    expect(await viewer.locator('.tile').first().getAttribute('data-state')).toBe('live');

    await viewer.fill('.chat-form input', 'hello from the audience');
    await viewer.press('.chat-form input', 'Enter');
    await caster.waitForSelector('.chat .msg:has-text("hello from the audience")', { timeout: 10_000 });
    await caster.fill('.chat-form input', 'hello from the stage');
    await caster.press('.chat-form input', 'Enter');
    await viewer.waitForSelector('.chat .msg:has-text("hello from the stage")', { timeout: 10_000 });

    // The viewer raises a hand, the broadcaster invites, the viewer joins the stage with its microphone.
    const guestId = await viewer.evaluate(() => (globalThis as any).fourcast.stage.info.peerId as string);
    await viewer.click('#raise-hand');
    await caster.click(`#host-invitations li.hand[data-peer="${guestId}"] button:has-text("Invite")`);
    await viewer.click('#accept-invitation');
    await viewer.waitForSelector('#guest-state:has-text("You are on stage")', { timeout: 20_000 });
    await caster.waitForSelector(`figure.tile[data-peer="${guestId}"][data-state="audio-only"]`, { timeout: 20_000 });
    await viewer.click('#leave-stage');
    await caster.waitForSelector(`figure.tile[data-peer="${guestId}"]`, { state: 'detached', timeout: 10_000 });
    expect(errors).toEqual([]);
  });

  it('a forged broadcaster link says it was refused and cannot go live', async () => {
    const forged = links.broadcast.replace(/token=[^&]+/, (t) => `${t.slice(0, -4)}AAAA`);
    const page = await open(forged, 'forged');
    await page.waitForSelector('#banner', { timeout: 15_000 });
    expect(await page.textContent('#banner')).toMatch(/refused.*not valid here.*new link/i);
    expect(await page.textContent('#status')).toMatch(/^refused$/i);
    expect(await page.locator('#go-live').isDisabled()).toBe(true);
  });
});
