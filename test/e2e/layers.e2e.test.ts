import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { goLive, openPage, poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

// A viewer's tile asks for the smallest simulcast layer that fills it (client/src/lib/tiles.ts):
// the camera's layers are 320, 640 and 1280 wide, and what the page asked is what the server's
// consumer holds as its preferred layer.
describe('each tile asks for the simulcast layer it shows', () => {
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

  it('a wide tile takes the top layer, a 2×2-grid-sized one the middle, a thumbnail the lowest', async () => {
    const room = 'layers';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Caster', ttlSeconds: 600 });
    const pub = await openPage(browser, `${node.urls.http}/broadcast.html?room=${room}&token=${token}&quality=low`, 'pub', log);
    const casterId = await goLive(pub);
    const viewer = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Eyes`, 'viewer', log);
    const preferred = () => {
      const peer = [...node.rooms.get(room)!.peers.values()].find((p) => p.role === 'viewer');
      const video = peer && [...peer.media.consumers.values()].find((c) => c.kind === 'video');
      return Promise.resolve(video?.preferredLayers?.spatialLayer);
    };
    const tileWidth = () => viewer.evaluate((id) => (globalThis as any).document.querySelector(`[data-peer="${id}"]`)?.clientWidth as number | undefined, casterId);
    const seen: [number, number][] = [];
    for (const [width, layer] of [[1280, 2], [640, 1], [320, 0]] as const) {
      await viewer.setViewportSize({ width, height: 800 });
      const w = await poll(tileWidth, (x) => x !== undefined && x > 0, 10_000, 'the tile laid out');
      // The layer's width is the smallest that covers the tile's pixels (device pixel ratio 1 here).
      const expected = w! <= 320 ? 0 : w! <= 640 ? 1 : 2;
      expect(expected, `a ${width}-wide window makes a ${w} px tile`).toBe(layer);
      await poll(preferred, (l) => l === layer, 10_000, `the consumer's preferred layer ${layer} for a ${w} px tile`);
      seen.push([w!, layer]);
    }
    expect(seen.map(([, l]) => l)).toEqual([2, 1, 0]);
    // Chromium lowers an encoder's layers when the machine's CPU runs short: no camera left running for the next test.
    for (const p of [pub, viewer]) await p.context().close();
  });

  it('a viewer of a full stage in a 2×2 grid gets the 640 layer on all four tiles: the bandwidth estimate climbs to carry them', async () => {
    const room = 'grid-layers';
    // Four broadcasters with the page's default camera (1280×720: three simulcast layers).
    for (let i = 0; i < 4; i++) {
      const token = await node.tokens.mint({ role: 'publisher', room, name: `Caster ${i + 1}`, ttlSeconds: 600 });
      await goLive(await openPage(browser, `${node.urls.http}/broadcast.html?room=${room}&token=${token}`, `pub${i}`, log), 40_000);
    }
    const viewer = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Grid`, 'grid-viewer', log);
    await viewer.setViewportSize({ width: 1280, height: 800 });
    const videos = () => {
      const peer = [...node.rooms.get(room)!.peers.values()].find((p) => p.role === 'viewer');
      return peer ? [...peer.media.consumers.values()].filter((c) => c.kind === 'video') : [];
    };
    // Each tile is under 640 px wide, so it asks for layer 1; the server starts the transport at
    // 1 Mbps, below four such layers, and only Chromium's transport-cc feedback lets it climb.
    const layers = await poll(
      () => Promise.resolve(videos().map((c) => [c.preferredLayers?.spatialLayer, c.currentLayers?.spatialLayer])),
      (ls) => ls.length === 4 && ls.every(([want, got]) => want === 1 && got === 1),
      45_000,
      'all four tiles receiving the layer they asked for',
    );
    expect(layers).toEqual([[1, 1], [1, 1], [1, 1], [1, 1]]);
    const peer = [...node.rooms.get(room)!.peers.values()].find((p) => p.role === 'viewer')!;
    const recv = [...peer.media.transports.values()].find((t) => t.direction === 'recv')!.transport;
    const [stats] = (await recv.getStats()) as { availableOutgoingBitrate?: number }[];
    expect(stats!.availableOutgoingBitrate).toBeGreaterThan(1_500_000);
    // Room for the waits above (four go-lives of up to 40 s, 45 s for the layers): on a slow day the
    // test timeout, not one of them, cut the run short.
  }, 240_000);
});
