import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { errorCodes } from '../../src/protocol/messages.js';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { captureLog } from '../helpers/captureLog.js';
import { pageMediaOf, serverMediaOf } from '../helpers/mediaDiag.js';
import { decodingAll, openPage, peerIdOf, poll, stageStats } from '../helpers/pages.js';
import { timeOrigin } from '../helpers/pageEvents.js';
import { ResponseTally } from '../helpers/responseTally.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

// The live stage in real Chromium (fake camera + mic), on 127.0.0.1:
// four broadcasters, four viewers spread over two workers, a refused fifth
// broadcaster, a fuzzing client, a killed worker and a broadcaster leaving.
const ROOM = 'e2e-stage';
const VIEWERS = 4;

describe('live stage in Chromium', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];
  const publishers: Page[] = [];
  const viewers: Page[] = [];
  let publisherIds: string[] = [];
  // The node's warnings and errors (a worker killed, a transport failing): printed with a failed media wait.
  const nodeLog = captureLog('warn');

  /** Both ends of a viewer's media, and the node's warnings: what a stalled viewer is explained with. */
  const explain = (v: Page) => async () => {
    const id = await peerIdOf(v);
    return { server: id ? await serverMediaOf(node, ROOM, id) : 'no peer', page: await pageMediaOf(v), nodeLog: nodeLog.lines.slice(-20) };
  };
  const allViewersDecode = async (ids: string[], timeoutMs: number) => {
    for (const [i, v] of viewers.entries()) {
      await poll(() => decodingAll(v, ids), (r) => r.ok, timeoutMs, `viewer ${i} decoding ${ids.length} broadcasters`, explain(v));
    }
  };

  beforeAll(async () => {
    // Cap of 2 receivers per router: four viewers (and the broadcasters, who receive too) need routers on both workers.
    // The request limiter raised so that every fuzz frame reaches the parser (at the default 50/s all but ~200 would be `rate-limited`).
    node = await startTestNode({ MEDIASOUP_WORKERS: '2', ROUTER_MAX_VIEWERS: '2', WS_REQUESTS_PER_SECOND: '100000' }, nodeLog.log);
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 40).join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('four broadcasters go live', async () => {
    for (let i = 0; i < 4; i++) {
      const token = await node.tokens.mint({ role: 'publisher', room: ROOM, name: `Caster ${i + 1}`, ttlSeconds: 3600 });
      const page = await openPage(browser, `${node.urls.http}/broadcast.html?room=${ROOM}&token=${token}&quality=low`, `pub${i}`, log);
      await page.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 20_000 });
      await page.click('#go-live');
      await page.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: 20_000 });
      publishers.push(page);
    }
    publisherIds = (await Promise.all(publishers.map(peerIdOf))) as string[];
    expect(new Set(publisherIds).size).toBe(4);
    expect(node.rooms.get(ROOM)!.stage.peers).toHaveLength(4);
  });

  it('every viewer decodes video from all four and receives their audio', async () => {
    for (let i = 0; i < VIEWERS; i++) {
      viewers.push(await openPage(browser, `${node.urls.http}/watch.html?room=${ROOM}&name=Viewer${i}`, `viewer${i}`, log));
    }
    await allViewersDecode(publisherIds, 45_000);
    for (const v of viewers) expect(await v.locator('#stage .tile').count()).toBe(4);
    // Opening pages next to four encoding broadcasters is slow on a loaded 2-core machine: a budget, not a speed claim.
  }, 300_000);

  it('spreads viewers over fan-out routers on both workers, and fan-out viewers decode', async () => {
    const room = node.rooms.get(ROOM)!;
    const origin = await room.media.origin();
    const used = room.media.all().filter((rr) => rr.viewers > 0);
    expect(new Set(used.map((rr) => rr.workerIndex)).size).toBe(2);
    const fanOutPeers = [...room.peers.values()].filter((p) => p.recvRouter && p.recvRouter !== origin && !p.onStage).map((p) => p.id);
    expect(fanOutPeers.length).toBeGreaterThan(0);
    const ids = await Promise.all(viewers.map(peerIdOf));
    const fanOutViewer = viewers[ids.findIndex((id) => id && fanOutPeers.includes(id))]!;
    expect(fanOutViewer).toBeDefined();
    await poll(() => decodingAll(fanOutViewer, publisherIds), (r) => r.ok, 45_000, 'fan-out viewer decoding', explain(fanOutViewer));
  });

  it('refuses a fifth broadcaster with the protocol error', async () => {
    const token = await node.tokens.mint({ role: 'publisher', room: ROOM, name: 'Caster 5', ttlSeconds: 3600 });
    const fifth = await openPage(browser, `${node.urls.http}/broadcast.html?room=${ROOM}&token=${token}&quality=low`, 'pub5', log);
    // A page opened beside eight busy ones joins within the 45 s the decode checks allow.
    await fifth.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 45_000 });
    // The page knows the stage is full: Go live is disabled, with the reason.
    await fifth.waitForFunction(() => /stage is full/.test((globalThis as any).document.querySelector('#go-live-reason').textContent), null, { timeout: 10_000 });
    expect(await fifth.locator('#go-live').isDisabled()).toBe(true);
    // The server refuses it anyway (a page that tried regardless): the protocol error.
    const code = await fifth.evaluate(async () => {
      const g = globalThis as any;
      const s = await g.navigator.mediaDevices.getUserMedia({ video: { width: 160, height: 120 } });
      return g.fourcast.stage.publish('camera', s.getVideoTracks()[0]).then(
        () => 'published',
        (e: { code: string }) => e.code,
      );
    });
    expect(code).toBe('stage-full');
    expect(node.rooms.get(ROOM)!.stage.peers).toHaveLength(4);
    await fifth.context().close();
  });

  it('a client sending thousands of malformed frames gets each answered once and affects nobody else', async () => {
    const fuzzer = await TestClient.connect(`${node.urls.ws}?room=${ROOM}`);
    const tally = new ResponseTally(fuzzer.ws);
    let seed = 7;
    // An LCG's low bits repeat with a short period (so would `% n`): pick from the high bits.
    const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x80000000) * n);
    const methods = ['join', 'consume', 'produce', 'createTransport', 'connectTransport', 'closeProducer', 'leave', 'setPreferredLayers'];
    const FRAMES = 5000;
    /** Frames that cannot be a request (not JSON, or no usable id): each must get one bad-request without id. */
    let anonymous = 0;
    /** Requests whose payload is not an object: each must get one bad-request carrying its id. */
    const badPayload: number[] = [];
    /** Requests with an object payload: one answer carrying the id, ok or a typed error (bad-request when fields are missing). */
    const wellFormed: number[] = [];
    for (let i = 0; i < FRAMES; i++) {
      const r = rnd(4);
      if (r === 0) {
        fuzzer.raw(String.fromCharCode(...Array.from({ length: rnd(40) }, () => rnd(256))));
        anonymous++;
      } else if (r === 1) {
        fuzzer.raw(JSON.stringify({ type: 'request', id: i, method: methods[rnd(methods.length)], data: { producerId: publisherIds[rnd(4)], transportId: 'x', direction: 'send' } }));
        wellFormed.push(i);
      } else {
        const id = rnd(3) ? i : null;
        fuzzer.raw(JSON.stringify({ type: 'request', id, method: methods[rnd(methods.length)], data: rnd(2) ? [] : 'x' }));
        if (id === null) anonymous++;
        else badPayload.push(i);
      }
      if (i % 1000 === 0) await new Promise((res) => setTimeout(res, 10));
    }
    await tally.waitForTotal(FRAMES, 30_000);
    await new Promise((res) => setTimeout(res, 300));
    const byCode = tally.byCode();
    console.log(`fuzz: ${FRAMES} frames, answers by code: ${JSON.stringify(byCode)}`);
    expect(tally.closed).toBeUndefined();
    expect(tally.garbage).toEqual([]);
    expect(tally.total).toBe(FRAMES);
    expect(byCode['rate-limited'] ?? 0).toBe(0);
    expect(byCode.internal ?? 0).toBe(0);
    const withoutId = tally.responses.filter((x) => x.id === null);
    expect(withoutId).toHaveLength(anonymous);
    expect(new Set(withoutId.map((x) => x.code))).toEqual(new Set(['bad-request']));
    for (const id of badPayload) expect(tally.forId(id), `frame ${id}`).toEqual(['bad-request']);
    const typed = ['ok', ...errorCodes.filter((c) => c !== 'internal' && c !== 'rate-limited')];
    for (const id of wellFormed) {
      const got = tally.forId(id);
      expect(got, `frame ${id}`).toHaveLength(1);
      expect(typed, `frame ${id}`).toContain(got[0]);
    }
    fuzzer.close();
    // As long as the first check allows: on a loaded 2-core run a starved broadcaster's encoder
    // stalls for seconds (its producer score drops to 0) with or without a fuzzer.
    await allViewersDecode(publisherIds, 45_000);
    expect(node.rooms.get(ROOM)!.stage.peers).toHaveLength(4);
  });

  it('recovers from a SIGKILLed worker without reloading any page', async () => {
    const room = node.rooms.get(ROOM)!;
    const origin = await room.media.origin();
    const victim = origin.worker;
    const pidBefore = victim.pid;
    const beforeFrames = await stageStats(viewers[0]!);
    const pages = [...publishers, ...viewers];
    const originsBefore = await Promise.all(pages.map(timeOrigin));
    const peersBefore = await Promise.all(pages.map(peerIdOf));
    process.kill(pidBefore, 'SIGKILL');
    // The pool replaces the worker; the room promotes or rebuilds its origin;
    // broadcasters re-produce and viewers re-consume, all inside the pages.
    await poll(async () => node.pool.workers[victim.index]?.pid, (pid) => pid !== undefined && pid !== pidBefore && !node.pool.workers[victim.index]!.closed, 15_000, 'worker replaced');
    await poll(async () => room.stage.peers.every((p) => p.producers.size === 2), (ok) => ok, 30_000, 'broadcasters producing again');
    await allViewersDecode(publisherIds, 30_000);
    // Same documents (a reload would start a new one, with a new time origin), same peers: nothing was reloaded or re-joined.
    expect(await Promise.all(pages.map(timeOrigin))).toEqual(originsBefore);
    expect(await Promise.all(pages.map(peerIdOf))).toEqual(peersBefore);
    const after = await stageStats(viewers[0]!);
    expect(Object.keys(after).sort()).toEqual(Object.keys(beforeFrames).sort());
  });

  it('a broadcaster who leaves disappears from every viewer', async () => {
    const leaving = publisherIds[3]!;
    await publishers[3]!.context().close();
    for (const v of viewers) {
      await poll(() => v.locator('#stage .tile').count(), (n) => n === 3, 15_000, 'three tiles');
      expect(await v.locator(`#stage .tile[data-peer="${leaving}"]`).count()).toBe(0);
    }
    await allViewersDecode(publisherIds.slice(0, 3), 20_000);
  });
});
