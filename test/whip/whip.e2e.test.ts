import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import type { WhepSession } from '../../src/whip/whepSession.js';
import { launchChromium } from '../helpers/browser.js';
import { decodingAll, openPage, poll, stageStats } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';
import { connectionState, deleteSession, openClientPage, receiverStats, startPlainOrigin, whepWatch, whipPublish, type ReceiverStats } from '../helpers/whipClient.js';
import { weriftWhipPublish } from '../helpers/weriftWhip.js';

// WHIP and WHEP with clients that know nothing of Fourcast: Chromium pages using only
// RTCPeerConnection and fetch (from another origin, so CORS is exercised), and werift in
// Node. What they publish is watched on the normal viewer page; what WHEP plays is counted
// per answered section in the player's own WebRTC stats.
describe('WHIP broadcasters and WHEP players', () => {
  const room = 'standard';
  let node: Fourcast;
  let browser: Browser;
  let origin: Awaited<ReturnType<typeof startPlainOrigin>>;
  let viewer: Page;
  let casters: Page;
  const log: string[] = [];
  const whip = () => `${node.urls.http}/whip/${room}`;
  const whep = () => `${node.urls.http}/whep/${room}`;
  const publisherToken = (name: string) => node.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 });
  const stagePeerNamed = (name: string) => node.rooms.get(room)?.stage.peers.find((p) => p.name === name);

  beforeAll(async () => {
    node = await startTestNode();
    browser = await launchChromium();
    origin = await startPlainOrigin();
    casters = await openClientPage(browser, origin.url, 'whip', log);
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 20).join('\n'));
    await browser?.close();
    await origin?.close();
    await node?.close();
  });

  it('a Chromium WHIP client goes live under its token’s name, a viewer page decodes it, and DELETE takes it off the stage', async () => {
    const token = await publisherToken('Studio A');
    const t0 = performance.now();
    const res = await whipPublish(casters, whip(), token);
    expect(res.status, res.body).toBe(201);
    expect(res.location).toMatch(new RegExp(`/whip/${room}/[0-9a-f-]{36}$`));
    expect(res.link).toContain('rel="ice-server"');
    await poll(() => connectionState(casters, res.index!), (s) => s === 'connected', 20_000, 'the WHIP peer connection');
    const peer = stagePeerNamed('Studio A')!;
    expect(peer).toBeDefined();

    viewer = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Watcher`, 'viewer', log);
    const seen = await poll(() => decodingAll(viewer, [peer.id]), (r) => r.ok, 45_000, 'the viewer page decoding the WHIP broadcaster');
    expect(seen.ok).toBe(true);
    console.log(`WHIP (Chromium): POST → viewer page decodes in ${Math.round(performance.now() - t0)} ms`);

    expect(await deleteSession(casters, res.index!)).toBe(200);
    expect(stagePeerNamed('Studio A')).toBeUndefined();
    await poll(() => stageStats(viewer), (s) => s[peer.id] === undefined, 10_000, 'the viewer page dropping the broadcaster');
  });

  it('a werift WHIP client (not a browser) publishes VP8 that the viewer page decodes', async () => {
    const token = await publisherToken('Encoder W');
    const pub = await weriftWhipPublish(whip(), token);
    try {
      expect(pub.status, pub.body).toBe(201);
      const peer = await poll(async () => stagePeerNamed('Encoder W'), (p) => p !== undefined, 5000, 'the werift broadcaster on stage');
      const frames = async () => (await stageStats(viewer))[peer!.id]?.framesDecoded ?? 0;
      const first = await poll(frames, (n) => n > 0, 45_000, 'the viewer decoding the werift broadcaster');
      await poll(frames, (n) => n > first + 10, 20_000, 'more frames from the werift broadcaster');
    } finally {
      await pub.close();
    }
    await poll(async () => stagePeerNamed('Encoder W'), (p) => p === undefined, 5000, 'the werift broadcaster gone after DELETE');
  });

  it('four WHIP broadcasters fill the stage, a fifth gets 409 stage-full; a WHEP page decodes all four; a leaving broadcaster’s slot goes quiet and a new session shows the newcomer', async () => {
    const names = ['North', 'East', 'South', 'West'];
    const sessions: number[] = [];
    for (const name of names) {
      // North offers simulcast (three RIDs): the answer takes one plain stream, which must still play.
      const res = await whipPublish(casters, whip(), await publisherToken(name), { simulcast: name === 'North' });
      expect(res.status, res.body).toBe(201);
      sessions.push(res.index!);
    }
    const fifth = await whipPublish(casters, whip(), await publisherToken('Fifth'));
    expect(fifth.status).toBe(409);
    expect(JSON.parse(fifth.body)).toMatchObject({ error: 'stage-full' });
    for (const i of sessions) await poll(() => connectionState(casters, i), (s) => s === 'connected', 20_000, `WHIP session ${i} connected`);

    const player = await openClientPage(browser, origin.url, 'whep', log);
    const t0 = performance.now();
    const res = await whepWatch(player, whep(), undefined, 4);
    expect(res.status, res.body).toBe(201);
    const session = node.mediaSessions.get(res.location!.split('/').pop()!) as WhepSession;
    const mids = (slot: number) => [String(2 * slot), String(2 * slot + 1)] as const;
    const playing = (stats: ReceiverStats, before: ReceiverStats | undefined, slot: number) => {
      const [a, v] = mids(slot);
      return (stats[v]?.framesDecoded ?? 0) > (before?.[v]?.framesDecoded ?? 0) && (stats[a]?.samples ?? 0) > (before?.[a]?.samples ?? 0);
    };
    // All four slots advance (decoded frames and decoded audio samples) between two samples.
    const allPlaying = async () => {
      const a = await receiverStats(player, res.index!);
      await new Promise((r) => setTimeout(r, 1000));
      const b = await receiverStats(player, res.index!);
      return { ok: [0, 1, 2, 3].every((s) => playing(b, a, s)), b };
    };
    const r = await poll(allPlaying, (x) => x.ok, 45_000, 'the WHEP player decoding all four broadcasters');
    console.log(`WHEP: POST → all four broadcasters decoding in ${Math.round(performance.now() - t0)} ms`);
    // Each slot plays the stream of the consumer the server made for that slot's broadcaster.
    const stage = node.rooms.get(room)!.stage.peers.map((p) => p.id);
    expect(new Set(session.assignments)).toEqual(new Set(stage));
    const whepPeer = session.peer!;
    for (const c of whepPeer.consumers.values()) expect(r.b[c.rtpParameters.mid!]?.ssrc).toBe(c.rtpParameters.encodings![0]!.ssrc);

    // East leaves: its slot goes quiet, the other three keep playing. A broadcaster who goes live
    // later is seen by a new session (the draft has no renegotiation): the player POSTs again.
    const eastSlot = session.assignments.indexOf(stagePeerNamed('East')!.id);
    expect(await deleteSession(casters, sessions[1]!)).toBe(200);
    await poll(async () => [...whepPeer.consumers.values()].filter((c) => !c.closed).length, (n) => n === 6, 5000, 'East’s two consumers closed');
    const others = [0, 1, 2, 3].filter((s) => s !== eastSlot);
    await poll(
      async () => {
        const a = await receiverStats(player, res.index!);
        await new Promise((r) => setTimeout(r, 1000));
        const b = await receiverStats(player, res.index!);
        return others.every((s) => playing(b, a, s));
      },
      (ok) => ok,
      30_000,
      'the three remaining broadcasters still playing',
    );
    const late = await whipPublish(casters, whip(), await publisherToken('Late'));
    expect(late.status, late.body).toBe(201);
    expect(await deleteSession(player, res.index!)).toBe(200);
    const again = await whepWatch(player, whep(), undefined, 4);
    expect(again.status, again.body).toBe(201);
    const second = node.mediaSessions.get(again.location!.split('/').pop()!) as WhepSession;
    expect(second.assignments).toContain(stagePeerNamed('Late')!.id);
    await poll(
      async () => {
        const a = await receiverStats(player, again.index!);
        await new Promise((r) => setTimeout(r, 1000));
        const b = await receiverStats(player, again.index!);
        return [0, 1, 2, 3].every((s) => playing(b, a, s));
      },
      (ok) => ok,
      45_000,
      'the new session playing all four, the newcomer included',
    );
    expect(await deleteSession(player, again.index!)).toBe(200);
    expect(node.mediaSessions.count('whep')).toBe(0);
  });
});
