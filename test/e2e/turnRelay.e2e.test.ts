import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { decodingAll, openPage, peerIdOf, poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

// A viewer that may only use relayed candidates (iceTransportPolicy 'relay')
// receives video through a real coturn, with credentials from GET /api/turn.
describe('viewer through coturn (relay only)', () => {
  const SECRET = 'e2e-static-auth-secret';
  let coturn: Coturn;
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];

  beforeAll(async () => {
    coturn = await startCoturn({ secret: SECRET });
    node = await startTestNode({ TURN_SECRET: SECRET, TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=udp` });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.join('\n'));
    await browser?.close();
    await node?.close();
    await coturn?.stop();
  });

  it('decodes video whose only path is a TURN relay', async () => {
    const token = await node.tokens.mint({ role: 'publisher', room: 'relay', name: 'Caster', ttlSeconds: 600 });
    const pub = await openPage(browser, `${node.urls.http}/broadcast.html?room=relay&token=${token}&quality=low`, 'pub', log);
    await pub.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 20_000 });
    await pub.click('#go-live');
    await pub.waitForFunction(() => (globalThis as any).fourcast.state.live === true, null, { timeout: 20_000 });
    const pubId = (await peerIdOf(pub))!;

    const viewer: Page = await openPage(browser, `${node.urls.http}/watch.html?room=relay&relay=1`, 'viewer', log);
    await poll(() => decodingAll(viewer, [pubId]), (r) => r.ok, 40_000, 'relayed viewer decoding');

    // The nominated pair's local candidate is a relay candidate allocated on our coturn.
    const local = await viewer.evaluate(async () => {
      const stage = (globalThis as any).fourcast.stage;
      const stats: Map<string, any> = await stage.recvTransport.getStats();
      const pair = [...stats.values()].find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
      const cand = pair && stats.get(pair.localCandidateId);
      return cand ? { type: cand.candidateType, relayProtocol: cand.relayProtocol, url: cand.url } : null;
    });
    expect(local?.type).toBe('relay');
  });
});
