import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { decodingAll, openPage, peerIdOf, poll } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

// What broadcasters and viewers do with the stage controls, in Chromium:
// camera/mic off and back, Stop and Go live again, the same link in two tabs,
// an admin mute, a full stage, kick and ban.
const ADMIN = 'admin-token-for-e2e-0123456789';

const tile = (p: Page, peerId: string) => p.locator(`#stage .tile[data-peer="${peerId}"]`);
const attr = (p: Page, peerId: string, name: string) => tile(p, peerId).getAttribute(name).catch(() => null);
const phase = (p: Page) => p.evaluate(() => (globalThis as any).fourcast.state.phase as string);
const waitJoined = (p: Page) => p.waitForFunction(() => (globalThis as any).fourcast?.stage?.online, null, { timeout: 20_000 });

describe('stage controls in Chromium', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];

  const casterUrl = async (room: string, name: string, token?: string) =>
    `${node.urls.http}/broadcast.html?room=${room}&token=${token ?? (await node.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 }))}&quality=low`;
  const goLive = async (p: Page) => {
    await p.waitForSelector('#go-live:not([disabled])', { timeout: 20_000 });
    await p.click('#go-live');
    await p.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: 20_000 });
  };
  const admin = (path: string) => fetch(`${node.urls.http}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1', ADMIN_TOKEN: ADMIN });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 40).join('\n'));
    await browser?.close();
    await node?.close();
  });

  it('camera off, mic off, both, then Stop and Go live: viewers and a late joiner see the right state; media flows again', async () => {
    const room = 'controls';
    const caster = await openPage(browser, await casterUrl(room, 'Ada Lovelace'), 'ada', log);
    await goLive(caster);
    const id = (await peerIdOf(caster))!;
    const viewer = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Early`, 'early', log);
    await poll(() => attr(viewer, id, 'data-state'), (s) => s === 'live', 20_000, 'tile live');
    expect(await attr(viewer, id, 'data-mic')).toBe('on');
    expect(await tile(viewer, id).locator('.host-badge').textContent()).toBe('Host');

    // Camera off: a placeholder with initials, not a frozen frame; the mic is not shown as muted.
    await caster.click('#mute-cam');
    await poll(() => attr(viewer, id, 'data-state'), (s) => s === 'camera-off', 10_000, 'camera off');
    expect(await tile(viewer, id).locator('.avatar').isVisible()).toBe(true);
    expect(await tile(viewer, id).locator('.avatar').textContent()).toBe('AL');
    expect(await tile(viewer, id).locator('video').evaluate((v) => (globalThis as any).getComputedStyle(v).visibility as string)).toBe('hidden');
    expect(await attr(viewer, id, 'data-mic')).toBe('on');
    expect(await tile(viewer, id).locator('.mic-off').isHidden()).toBe(true);
    expect(await caster.textContent('#mute-cam')).toBe('Show camera');

    // Both off: the mic indicator has words, not only an icon.
    await caster.click('#mute-mic');
    await poll(() => attr(viewer, id, 'data-mic'), (s) => s === 'muted', 10_000, 'mic muted');
    expect(await tile(viewer, id).locator('.mic-off').isVisible()).toBe(true);
    expect(await tile(viewer, id).locator('.mic-off .mic-text').textContent()).toBe('Microphone muted');
    expect(await attr(viewer, id, 'data-state')).toBe('camera-off');
    expect(await caster.textContent('#mute-mic')).toBe('Unmute mic');

    // A late joiner sees the same.
    const late = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Late`, 'late', log);
    await poll(() => attr(late, id, 'data-state'), (s) => s === 'camera-off', 15_000, 'late joiner: camera off');
    expect(await attr(late, id, 'data-mic')).toBe('muted');
    expect(await tile(late, id).locator('.avatar').isVisible()).toBe(true);

    // Camera back on, mic still muted: live picture with the mic indicator.
    await caster.click('#mute-cam');
    for (const v of [viewer, late]) {
      await poll(() => attr(v, id, 'data-state'), (s) => s === 'live', 15_000, 'camera back');
      expect(await attr(v, id, 'data-mic')).toBe('muted');
    }
    // Mic only off, then on again.
    await caster.click('#mute-mic');
    for (const v of [viewer, late]) await poll(() => attr(v, id, 'data-mic'), (s) => s === 'on', 10_000, 'mic back');

    // Hide camera + mute mic + Stop: the tile goes, the camera is released (light off), buttons reset.
    await caster.click('#mute-cam');
    await caster.click('#mute-mic');
    await poll(() => attr(viewer, id, 'data-mic'), (s) => s === 'muted', 10_000, 'both off before stop');
    await caster.click('#stop');
    for (const v of [viewer, late]) await poll(() => tile(v, id).count(), (n) => n === 0, 10_000, 'tile gone after Stop');
    expect(await caster.evaluate(() => (globalThis as any).document.querySelector('#preview').srcObject)).toBeNull();
    expect(await caster.evaluate(() => (globalThis as any).fourcast.state.devicesOpen)).toBe(false);
    expect(await caster.textContent('#mute-mic')).toBe('Mute mic');
    expect(await caster.textContent('#mute-cam')).toBe('Hide camera');
    expect(await caster.locator('#mute-mic').isDisabled()).toBe(true);
    expect(await caster.textContent('#self-state')).toMatch(/camera and microphone are off/i);

    // Go live again: fresh tracks, picture and sound reach both viewers.
    await goLive(caster);
    const tracks = await caster.evaluate(() =>
      ((globalThis as any).document.querySelector('#preview').srcObject.getTracks() as { kind: string; enabled: boolean; readyState: string }[]).map((t) => ({
        kind: t.kind,
        enabled: t.enabled,
        state: t.readyState,
      })),
    );
    expect(tracks.sort((a, b) => a.kind.localeCompare(b.kind))).toEqual([
      { kind: 'audio', enabled: true, state: 'live' },
      { kind: 'video', enabled: true, state: 'live' },
    ]);
    for (const v of [viewer, late]) {
      await poll(() => attr(v, id, 'data-state'), (s) => s === 'live', 15_000, 'live after Go live');
      expect(await attr(v, id, 'data-mic')).toBe('on');
      await poll(() => decodingAll(v, [id]), (r) => r.ok, 15_000, 'video and audio flowing after Go live');
    }
    await viewer.context().close();

    // An admin mute: the broadcaster is told, cannot undo it, and viewers see it.
    const res = await admin(`/admin/rooms/${room}/peers/${id}/mute`);
    expect(res.status).toBe(200);
    await caster.waitForSelector('#banner', { timeout: 10_000 });
    expect(await caster.textContent('#banner')).toMatch(/moderator muted your microphone/i);
    expect(await caster.locator('#mute-mic').isDisabled()).toBe(true);
    expect(await caster.textContent('#mute-mic')).toBe('Muted by a moderator');
    await poll(() => attr(late, id, 'data-mic'), (s) => s === 'muted', 10_000, 'viewer sees the admin mute');
    const refused = await caster.evaluate(() =>
      (globalThis as any).fourcast.stage.setMuted('mic', false).then(
        () => 'resumed',
        (e: { code: string }) => e.code,
      ),
    );
    expect(refused).toBe('forbidden');
    const audio = [...node.rooms.get(room)!.peers.get(id)!.producers.values()].find((p) => p.producer.kind === 'audio')!;
    expect(audio.producer.paused).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(await attr(late, id, 'data-mic')).toBe('muted');
    // The speaking highlight never shows on a muted broadcaster.
    expect(await tile(late, id).evaluate((t) => t.classList.contains('speaking'))).toBe(false);
    await caster.context().close();
    await late.context().close();
  });

  it('the same broadcaster link in two tabs takes one seat; the second tab is told why', async () => {
    const room = 'twotabs';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Solo', ttlSeconds: 600 });
    const first = await openPage(browser, await casterUrl(room, 'Solo', token), 'tab1', log);
    await goLive(first);
    const second = await openPage(browser, await casterUrl(room, 'Solo', token), 'tab2', log);
    await second.waitForSelector('#banner', { timeout: 15_000 });
    expect(await second.textContent('#banner')).toMatch(/already open in another tab/i);
    expect(await second.locator('#go-live').isDisabled()).toBe(true);
    expect(await second.textContent('#go-live-reason')).toMatch(/open in another tab/i);
    expect(await second.locator('#take-over').isVisible()).toBe(true);
    const r = node.rooms.get(room)!;
    expect(r.stage.peers).toHaveLength(1);
    expect([...r.peers.values()].filter((p) => p.role === 'publisher')).toHaveLength(1);
    await new Promise((res) => setTimeout(res, 1500));
    // The first tab is untouched and still live.
    expect(await first.evaluate(() => (globalThis as any).fourcast.state.live)).toBe(true);

    // Explicit take-over: the second tab gets the seat, the first stops and says why (no retry).
    await second.click('#take-over');
    await waitJoined(second);
    await first.waitForFunction(() => (globalThis as any).fourcast.state.phase === 'ended', null, { timeout: 10_000 });
    expect(await first.textContent('#banner')).toMatch(/opened in another tab or window, which took over/i);
    expect(await first.locator('#go-live').isDisabled()).toBe(true);
    expect(await first.evaluate(() => (globalThis as any).document.querySelector('#preview').srcObject)).toBeNull();
    await goLive(second);
    expect(r.stage.peers).toHaveLength(1);
    expect([...r.peers.values()].filter((p) => p.role === 'publisher')).toHaveLength(1);
    await new Promise((res) => setTimeout(res, 1500));
    expect(await phase(first)).toBe('ended');
    await first.context().close();
    await second.context().close();
  });

  it('a full stage disables Go live with the reason, and a freed seat is announced to the waiting broadcaster', async () => {
    const room = 'full';
    const casters: Page[] = [];
    for (let i = 0; i < 4; i++) {
      const p = await openPage(browser, await casterUrl(room, `Caster ${i + 1}`), `c${i}`, log);
      await goLive(p);
      casters.push(p);
    }
    const fifth = await openPage(browser, await casterUrl(room, 'Fifth'), 'fifth', log);
    await waitJoined(fifth);
    await poll(() => fifth.textContent('#go-live-reason'), (t) => /stage is full/i.test(t ?? ''), 10_000, 'reason shown');
    expect(await fifth.locator('#go-live').isDisabled()).toBe(true);
    // A broadcaster not on stage is not counted as a viewer.
    expect(await fifth.textContent('#viewers')).toBe('0 watching');

    await casters[0]!.click('#stop');
    await fifth.waitForSelector('#go-live:not([disabled])', { timeout: 10_000 });
    expect(await fifth.textContent('#toast')).toMatch(/seat on stage is free/i);
    expect(await fifth.textContent('#go-live-reason')).toBe('');
    await goLive(fifth);
    expect(node.rooms.get(room)!.stage.peers).toHaveLength(4);
    // And now the one who stepped down waits, with the reason.
    await poll(() => casters[0]!.textContent('#go-live-reason'), (t) => /stage is full/i.test(t ?? ''), 10_000, 'reason for the one who stopped');
    for (const p of [...casters, fifth]) await p.context().close();
  });

  it('kick and ban: the page stops media, disables input and says what happened, without retrying', async () => {
    const room = 'moderation';
    const caster = await openPage(browser, await casterUrl(room, 'Mod'), 'mod', log);
    await goLive(caster);
    const casterId = (await peerIdOf(caster))!;
    const kicked = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Kim`, 'kim', log);
    const banned = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Bo`, 'bo', log);
    for (const v of [kicked, banned]) await poll(() => decodingAll(v, [casterId]), (r) => r.ok, 20_000, 'viewer decoding');
    const kimId = (await peerIdOf(kicked))!;
    const boId = (await peerIdOf(banned))!;

    // Kick from the people list: the first press asks, the second acts.
    const kick = caster.locator(`.people li[data-peer="${kimId}"] button`, { hasText: 'Kick' });
    await caster.locator('.people summary').click();
    await kick.click();
    expect(await kick.textContent()).toBe('Kick?');
    expect(node.rooms.get(room)!.peers.has(kimId)).toBe(true);
    await kick.click();

    const res = await admin(`/admin/rooms/${room}/peers/${boId}/ban`);
    expect(res.status).toBe(200);

    for (const [page, text] of [
      [kicked, /removed from this room by a moderator/i],
      [banned, /banned from this room/i],
    ] as const) {
      await page.waitForSelector('#banner', { timeout: 10_000 });
      expect(await page.textContent('#banner')).toMatch(text);
      expect(await page.locator('#chat-input').isDisabled()).toBe(true);
      expect(await page.locator('.chat-form button').isDisabled()).toBe(true);
      expect(await page.locator('#stage .tile').count()).toBe(0);
      expect(await page.locator('#unmute').isHidden()).toBe(true);
      const media = await page.evaluate(() => ({
        playing: [...(globalThis as any).document.querySelectorAll('video, audio')].filter((m: any) => m.srcObject).length,
        recv: (globalThis as any).fourcast.stage.recvTransport ? 1 : 0,
      }));
      expect(media).toEqual({ playing: 0, recv: 0 });
      expect(await page.textContent('#status')).toBe('Disconnected');
    }
    // Final: nobody comes back by itself.
    await new Promise((r) => setTimeout(r, 3000));
    const r = node.rooms.get(room)!;
    expect([...r.peers.values()].map((p) => p.name)).toEqual(['Mod']);
    for (const p of [caster, kicked, banned]) await p.context().close();
  });

  it('tile tools, the quality indicator, the mic meter, a guest link, and no ghost tile after an offline spell', async () => {
    const room = 'tools';
    const caster = await openPage(browser, await casterUrl(room, 'Tess'), 'tess', log);
    // The level meter moves before going live (the fake microphone beeps).
    await poll(() => caster.evaluate(() => ((globalThis as any).fourcast?.meter?.level ?? 0) as number), (l) => l > 0.1, 10_000, 'mic level meter moving');
    // The device choice is remembered across a reload.
    const mics = await caster.locator('#mic option').evaluateAll((os) => os.map((o: any) => o.value as string));
    if (mics.length > 1) {
      await caster.selectOption('#mic', mics.at(-1)!);
      await caster.reload();
      await caster.waitForFunction(() => (globalThis as any).fourcast?.state?.joined, null, { timeout: 20_000 });
      // The device list fills in after the page asks for the devices, which can come after the join.
      await caster.waitForFunction(() => (globalThis as any).document.querySelectorAll('#mic option').length > 1, null, { timeout: 10_000 });
      expect(await caster.inputValue('#mic')).toBe(mics.at(-1));
    }
    await goLive(caster);
    const tessId = (await peerIdOf(caster))!;

    // A guest link made from the page lets a second broadcaster in.
    await caster.locator('#invite summary').click();
    await caster.fill('#guest-name', 'Guest Star');
    await caster.click('#invite-form button[type="submit"]');
    await caster.waitForSelector('#guest-output:not([hidden])', { timeout: 10_000 });
    const guestUrl = await caster.inputValue('#guest-link');
    expect(guestUrl).toMatch(new RegExp(`/broadcast\\.html\\?room=${room}&token=`));
    const guest = await openPage(browser, `${guestUrl}&quality=low`, 'guest', log);
    await goLive(guest);
    const guestId = (await peerIdOf(guest))!;
    expect(await guest.textContent('#me')).toBe('Guest Star');

    const viewer = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Val`, 'val', log);
    for (const id of [tessId, guestId]) await poll(() => attr(viewer, id, 'data-state'), (st) => st === 'live', 20_000, 'tiles live');
    // Quality indicator in words, and the stats overlay with numbers.
    await poll(() => tile(viewer, tessId).locator('.quality').textContent(), (t) => ['Good', 'Fair', 'Poor'].includes(t ?? ''), 15_000, 'quality shown');
    await tile(viewer, tessId).hover();
    await tile(viewer, tessId).locator('button.stats').click();
    await poll(() => tile(viewer, tessId).locator('.stats-overlay').textContent(), (t) => /Bitrate\d+ kbit\/s.*Round trip/.test(t ?? ''), 10_000, 'stats overlay');
    // Mute one broadcaster for me only, and set another's volume.
    await tile(viewer, tessId).locator('button.mute').click();
    expect(await tile(viewer, tessId).locator('audio').evaluate((a: any) => a.muted as boolean)).toBe(true);
    expect(await tile(viewer, guestId).locator('audio').evaluate((a: any) => a.muted as boolean)).toBe(false);
    await tile(viewer, guestId)
      .locator('input.volume')
      .evaluate((i: any) => {
        i.value = '0.3';
        i.dispatchEvent(new (globalThis as any).Event('input', { bubbles: true }));
      });
    expect(await tile(viewer, guestId).locator('audio').evaluate((a: any) => a.volume as number)).toBeCloseTo(0.3);
    // Pin: the pinned tile spans the grid and comes first.
    await tile(viewer, guestId).hover();
    await tile(viewer, guestId).locator('button.pin').click();
    expect(await viewer.locator('#stage').getAttribute('data-pinned')).toBe(guestId);
    const [g, t] = [await tile(viewer, guestId).boundingBox(), await tile(viewer, tessId).boundingBox()];
    expect(g!.width).toBeGreaterThan(t!.width * 1.5);
    expect(g!.y).toBeLessThan(t!.y);

    // The viewer is offline (reconnection held back) while the guest leaves: on its return, no ghost tile.
    await viewer.evaluate(() => {
      const s = (globalThis as any).fourcast.signaling;
      s.heldConnect = s.connect;
      s.connect = () => undefined;
      s.ws.close(3001, 'offline');
    });
    await guest.context().close();
    await poll(async () => node.rooms.get(room)!.stage.peers.length, (n) => n === 1, 10_000, 'guest gone on the server');
    expect(await tile(viewer, guestId).count()).toBe(1);
    await viewer.evaluate(() => {
      const s = (globalThis as any).fourcast.signaling;
      s.connect = s.heldConnect;
      s.connect();
    });
    await poll(() => viewer.locator('#stage .tile').count(), (n) => n === 1, 10_000, 'ghost tile removed on re-join');
    expect(await tile(viewer, tessId).count()).toBe(1);
    expect(await viewer.locator('#stage').getAttribute('data-pinned')).toBeNull();
    await poll(() => decodingAll(viewer, [tessId]), (r) => r.ok, 15_000, 'still decoding the one left');
    for (const p of [caster, viewer]) await p.context().close();
  });
});
