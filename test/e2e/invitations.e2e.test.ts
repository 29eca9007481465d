import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { goLive, mediaRequests, openRecordingMedia, peerIdOf, poll, stageStats } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';
import { clientPool } from '../helpers/wsClient.js';
import { opus } from '../helpers/rtpParameters.js';

const seatPhase = (page: Page) => page.evaluate(() => (globalThis as any).fourcast.seat.phase as string);
const guestText = (page: Page) => page.textContent('#guest-state');

// Joining the stage with consent, as people do it: a viewer raises a hand on the watch page,
// the host invites from the broadcaster page, the viewer accepts, and only then does the page
// ask for the microphone; everyone hears the guest; the host sends the guest back.
describe('join the stage with consent (Chromium pages)', () => {
  let node: Fourcast;
  let browser: Browser;
  const log: string[] = [];
  const pool = clientPool(() => node.urls.ws);

  beforeAll(async () => {
    node = await startTestNode();
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 20).join('\n'));
    pool.closeAll();
    await browser?.close();
    await node?.close();
  });

  it('raise hand → invite → accept: the microphone is asked for only after accept, others hear the guest, sending back frees the slot; declining changes nothing', async () => {
    const room = 'consent-e2e';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Hostess', ttlSeconds: 600 });
    const host = await openRecordingMedia(browser, `${node.urls.http}/broadcast.html?room=${room}&token=${token}&quality=low`, 'host', log);
    await goLive(host);
    const guest = await openRecordingMedia(browser, `${node.urls.http}/watch.html?room=${room}&name=Guesty`, 'guest', log);
    const listener = await openRecordingMedia(browser, `${node.urls.http}/watch.html?room=${room}&name=Listener`, 'listener', log);
    const guestId = (await peerIdOf(guest))!;
    const r = node.rooms.get(room)!;

    // The viewer raises a hand; the host sees it in words and invites from the list.
    expect(await guestText(guest)).toMatch(/Raise your hand/);
    await guest.click('#raise-hand');
    await host.waitForSelector(`#host-invitations li.hand[data-peer="${guestId}"]`, { timeout: 10_000 });
    expect(await host.textContent(`#host-invitations li.hand[data-peer="${guestId}"]`)).toMatch(/Guesty raised a hand/);
    await host.click(`#host-invitations li.hand[data-peer="${guestId}"] button[aria-label^="Invite Guesty onto the stage (microphone)"]`);
    await guest.waitForSelector('#accept-invitation:visible', { timeout: 10_000 });
    expect(await guestText(guest)).toMatch(/Hostess invites you onto the stage with your microphone\. Nothing is sent unless you join/);
    expect(await host.textContent('#host-invitations')).toMatch(/Invited Guesty \(microphone\); waiting for an answer/);
    // Nothing asked of the microphone yet: the watch page never called getUserMedia.
    expect(await mediaRequests(guest)).toEqual([]);
    expect(r.stage.size).toBe(1);

    const clickedAt = await guest.evaluate(() => Date.now());
    await guest.click('#accept-invitation');
    await poll(() => seatPhase(guest), (p) => p === 'on-stage', 20_000, 'the guest on stage', () => guestText(guest));
    const onStageAt = Date.now();
    const calls = await mediaRequests(guest);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ audio: true, video: false });
    expect(calls[0]!.at).toBeGreaterThanOrEqual(clickedAt);
    expect(await guestText(guest)).toBe('You are on stage: everyone hears you.');
    expect(r.stage.size).toBe(2);
    expect(r.stage.peers.map((p) => p.id)).toContain(guestId);

    // Another viewer gets the guest's audio and decodes it; the guest's tile is an avatar (audio only).
    const samples = async () => (await stageStats(listener))[guestId]?.audioSamples ?? 0;
    const first = await poll(samples, (n) => n > 0, 20_000, 'decoded audio of the guest at another viewer');
    console.log(`consent: accept → on stage ${onStageAt - clickedAt} ms, → another viewer decodes the guest ${Date.now() - clickedAt} ms`);
    await poll(samples, (n) => n > first + 48_000 * 0.5, 10_000, 'the guest’s audio keeps decoding');
    await listener.waitForSelector(`figure.tile[data-peer="${guestId}"][data-state="audio-only"][data-guest="true"]`, { timeout: 10_000 });
    expect(await listener.textContent(`figure.tile[data-peer="${guestId}"] .host-badge`)).toBe('Guest');
    // The host hears the guest too.
    await poll(async () => (await stageStats(host))[guestId]?.audioSamples ?? 0, (n) => n > 0, 20_000, 'decoded audio of the guest at the host');

    // The host sends the guest back from the participant list.
    await host.click('.people summary');
    await host.click(`.people li[data-peer="${guestId}"] button[aria-label="Send Guesty back to the audience"]`);
    await poll(() => guestText(guest), (t) => /back in the audience: Hostess sent you back/.test(t ?? ''), 10_000, 'the guest told why');
    expect(await seatPhase(guest)).toBe('audience');
    await poll(async () => r.stage.size, (n) => n === 1, 5000, 'the slot freed');
    await listener.waitForSelector(`figure.tile[data-peer="${guestId}"]`, { state: 'detached', timeout: 10_000 });
    // The microphone is released (its track stopped), and the guest can raise a hand again later.
    expect(await guest.evaluate(() => (globalThis as any).fourcast.stage.isLive)).toBe(false);

    // A second viewer declines: nothing changes and the microphone is never asked for.
    const other = await openRecordingMedia(browser, `${node.urls.http}/watch.html?room=${room}&name=Shy`, 'shy', log);
    const otherId = (await peerIdOf(other))!;
    await other.click('#raise-hand');
    await host.click(`#host-invitations li.hand[data-peer="${otherId}"] button[aria-label^="Invite Shy with camera"]`);
    await other.waitForSelector('#decline-invitation:visible', { timeout: 10_000 });
    expect(await guestText(other)).toMatch(/with your camera and microphone/);
    await other.click('#decline-invitation');
    await poll(() => guestText(other), (t) => t === 'You declined the invitation.', 10_000, 'declined in words');
    await poll(() => host.textContent('#host-invitations'), (t) => /Shy declined/.test(t ?? ''), 10_000, 'the host sees the answer');
    expect(await mediaRequests(other)).toEqual([]);
    expect(r.stage.size).toBe(1);
    expect(r.viewerCount).toBe(3);
  }, 180_000);

  it('four on stage: accepting is refused and the invitation says why, without asking for the microphone', async () => {
    const room = 'full-e2e';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Anchor', ttlSeconds: 600 });
    const host = await openRecordingMedia(browser, `${node.urls.http}/broadcast.html?room=${room}&token=${token}&quality=low`, 'anchor', log);
    await goLive(host);
    // Three more broadcasters over the protocol (no browser needed to hold a seat).
    for (let i = 0; i < 3; i++) {
      const c = await pool.connect(`room=${room}&token=${await node.tokens.mint({ role: 'publisher', room, name: `Seat${i}`, ttlSeconds: 600 })}`);
      await c.request('join', {});
      const t = await c.request('createTransport', { direction: 'send' });
      await c.request('produce', { transportId: t.transportId, kind: 'audio', rtpParameters: opus(500 + i), source: 'mic' });
    }
    expect(node.rooms.get(room)!.stage.size).toBe(4);
    const fifth = await openRecordingMedia(browser, `${node.urls.http}/watch.html?room=${room}&name=Fifth`, 'fifth', log);
    const fifthId = (await peerIdOf(fifth))!;
    await fifth.click('#raise-hand');
    await host.click(`#host-invitations li.hand[data-peer="${fifthId}"] button[aria-label^="Invite Fifth onto the stage (microphone)"]`);
    await fifth.click('#accept-invitation');
    await poll(() => guestText(fifth), (t) => /The stage is full \(4 broadcasters\), so you cannot join right now/.test(t ?? ''), 10_000, 'the refusal in words');
    expect(await seatPhase(fifth)).toBe('full');
    // Still open: it can be accepted once a seat frees up.
    expect(await fifth.isVisible('#accept-invitation')).toBe(true);
    await poll(() => host.textContent('#host-invitations'), (t) => /Fifth \(microphone\) tried to accept, but the stage is full/.test(t ?? ''), 10_000, 'the host sees why');
    expect(await mediaRequests(fifth)).toEqual([]);
    expect(node.rooms.get(room)!.stage.size).toBe(4);
  }, 120_000);
});
