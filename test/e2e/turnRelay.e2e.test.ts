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
    await pub.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: 20_000 });
    const pubId = (await peerIdOf(pub))!;

    const viewer: Page = await openPage(browser, `${node.urls.http}/watch.html?room=relay&relay=1`, 'viewer', log);
    await poll(() => decodingAll(viewer, [pubId]), (r) => r.ok, 40_000, 'relayed viewer decoding');

    // The pair ICE selected (the transport stat's selectedCandidatePairId) succeeded, and its
    // local candidate is a relay candidate allocated on our coturn, towards the worker's port.
    // A consent check in flight shows the selected pair as in-progress for a moment: read it again until it settles.
    const readPath = () => viewer.evaluate(async () => {
      const stage = (globalThis as any).fourcast.stage;
      const stats: Map<string, any> = await stage.recvTransport.getStats();
      const all = [...stats.values()];
      const transports = all.filter((s) => s.type === 'transport' && s.selectedCandidatePairId);
      const pair = transports.length === 1 ? stats.get(transports[0].selectedCandidatePairId) : undefined;
      const local = pair && stats.get(pair.localCandidateId);
      const remote = pair && stats.get(pair.remoteCandidateId);
      return {
        transports: transports.length,
        pair: pair ? { state: pair.state, nominated: pair.nominated, bytesReceived: pair.bytesReceived } : null,
        local: local ? { candidateType: local.candidateType, relayProtocol: local.relayProtocol, url: local.url, address: local.address } : null,
        remote: remote ? { candidateType: remote.candidateType, address: remote.address, port: remote.port } : null,
        localTypes: [...new Set(all.filter((s) => s.type === 'local-candidate').map((s) => s.candidateType))],
      };
    });
    // Chromium can report a freshly selected pair as succeeded before its byte counters move: wait for both.
    const path = await poll(readPath, (p) => p.pair?.state === 'succeeded' && (p.pair.bytesReceived ?? 0) > 0, 10_000, 'the selected pair to show succeeded and carrying media');
    console.log(`relayed viewer's selected ICE path: ${JSON.stringify(path)}`);
    expect(path.transports).toBe(1);
    expect(path.pair).toMatchObject({ state: 'succeeded' });
    expect(path.pair!.bytesReceived).toBeGreaterThan(0);
    expect(path.local).toMatchObject({ candidateType: 'relay', relayProtocol: 'udp', url: `turn:127.0.0.1:${coturn.port}?transport=udp` });
    // The relay policy left the browser no other kind of local candidate.
    expect(path.localTypes).toEqual(['relay']);
    // The far end is the worker's WebRtcServer.
    expect(path.remote!.port).toBe(node.pool.workers[0]!.port);
  });
});
