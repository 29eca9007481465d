import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';
import { opus, vp8 } from '../helpers/rtpParameters.js';

// Server rules behind the stage pages: one connection per broadcaster link,
// seats announced to waiting broadcasters, a moderator mute that sticks,
// hosts not counted as audience, reserved viewer names, guest links, chat
// epochs and a shutdown that clients may retry.
describe('stage policy over real sockets', () => {
  let node: Fourcast;
  const clients: TestClient[] = [];
  const url = (q: string) => `${node.urls.ws}?${q}`;
  const connect = async (q: string) => {
    const c = await TestClient.connect(url(q));
    clients.push(c);
    return c;
  };
  const publisher = async (room: string, name: string, token?: string) =>
    connect(`room=${room}&token=${token ?? (await node.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 }))}`);
  const goLive = async (c: TestClient, ssrc: number, kind: 'video' | 'audio' = 'video') => {
    const t = await c.request('createTransport', { direction: 'send' });
    return c.request('produce', kind === 'video' ? { transportId: t.transportId, kind, rtpParameters: vp8(ssrc), source: 'camera' } : { transportId: t.transportId, kind, rtpParameters: opus(ssrc), source: 'mic' });
  };

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await node?.close();
  });

  it('one connection per broadcaster link: a second is refused in-use; takeOver replaces the first', async () => {
    const token = await node.tokens.mint({ role: 'publisher', room: 'tabs', name: 'Solo', ttlSeconds: 600 });
    const first = await publisher('tabs', 'Solo', token);
    const firstJoin = await first.request('join', {});
    await goLive(first, 1);
    const second = await publisher('tabs', 'Solo', token);
    expect(await errorCode(second.request('join', {}))).toBe('in-use');
    const room = node.rooms.get('tabs')!;
    expect(room.peers.size).toBe(1);
    // The refused connection may try again with takeOver: the first is closed, told why, and leaves the stage.
    const joined = await second.request('join', { takeOver: true });
    expect(await first.waitFor('closing')).toEqual({ reason: expect.stringMatching(/another tab/), code: 'replaced' });
    expect((await first.closed).code).toBe(4009);
    expect([...room.peers.keys()]).toEqual([joined.peerId]);
    expect(room.stage.peers).toHaveLength(0);
    expect(joined.publishers.map((p) => p.peerId)).not.toContain(firstJoin.peerId);
    // Viewers (no token) are not limited.
    const v1 = await connect('room=tabs');
    const v2 = await connect('room=tabs');
    await v1.request('join', { name: 'Same' });
    await v2.request('join', { name: 'Same' });
  });

  it('tells broadcasters waiting for a seat when one frees up; hosts are not counted as viewers', async () => {
    const room = 'seats';
    const onStage: TestClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await publisher(room, `P${i}`);
      await c.request('join', {});
      onStage.push(c);
    }
    const produced = [];
    for (const [i, c] of onStage.entries()) produced.push(await goLive(c, 100 + i));
    const waiting = await publisher(room, 'Waiting');
    const w = await waiting.request('join', {});
    expect(w.publishers).toHaveLength(4);
    expect(w.viewerCount).toBe(0);
    expect(await errorCode(goLive(waiting, 200))).toBe('stage-full');
    const viewer = await connect(`room=${room}`);
    expect((await viewer.request('join', { name: 'Vic' })).viewerCount).toBe(1);

    await onStage[0]!.request('closeProducer', { producerId: produced[0]!.producerId });
    expect(await waiting.waitFor('seatAvailable')).toEqual({ free: 1 });
    // Viewers learn it from publisherLeft alone; those on stage are not told.
    await viewer.waitFor('publisherLeft');
    expect(viewer.notifications.some((n) => n.method === 'seatAvailable')).toBe(false);
    expect(onStage[1]!.notifications.some((n) => n.method === 'seatAvailable')).toBe(false);
    expect(await errorCode(goLive(waiting, 201))).toBe('ok');
  });

  it('a moderator mute is announced to the broadcaster and cannot be undone by them', async () => {
    const c = await publisher('mute', 'Loud');
    const me = await c.request('join', {});
    const mic = await goLive(c, 300, 'audio');
    const room = node.rooms.get('mute')!;
    expect(await room.moderation.mute(room.peers.get(me.peerId)!)).toBe(1);
    expect(await c.waitFor('moderatorMuted')).toMatchObject({ kind: 'audio' });
    expect(await errorCode(c.request('resumeProducer', { producerId: mic.producerId }))).toBe('forbidden');
    const audio = [...room.peers.get(me.peerId)!.producers.values()][0]!.producer;
    expect(audio.paused).toBe(true);
    // Closing and producing the mic again does not escape it either.
    await c.request('closeProducer', { producerId: mic.producerId });
    await goLive(c, 301, 'video');
    const again = await goLive(c, 302, 'audio');
    expect(room.peers.get(me.peerId)!.producers.get(again.producerId)!.producer.paused).toBe(true);
    const viewer = await connect('room=mute');
    const seen = await viewer.request('join', {});
    expect(seen.publishers[0]!.producers.find((p) => p.kind === 'audio')!.paused).toBe(true);
  });

  it('viewers cannot take role names or a host’s name; hosts keep theirs', async () => {
    const host = await publisher('names', 'Alice');
    expect((await host.request('join', {})).name).toBe('Alice');
    for (const name of ['Alice (host)', 'admin', 'The Moderator', 'alice']) {
      const v = await connect('room=names');
      const j = await v.request('join', { name });
      expect(j.name, name).toMatch(/^Viewer \d{4}$/);
    }
    const ok = await connect('room=names');
    expect((await ok.request('join', { name: 'Hostess Bob' })).name).toBe('Hostess Bob');
  });

  it('mints a guest broadcaster link for broadcasters only; the link works', async () => {
    const host = await publisher('guests', 'Host');
    await host.request('join', {});
    const link = await host.request('mintGuestLink', { name: 'Guest Star' });
    expect(link).toMatchObject({ room: 'guests', name: 'Guest Star', token: expect.any(String) });
    expect(link.expiresAt).toBeGreaterThan(Date.now() + 3 * 3600_000);
    const guest = await connect(`room=guests&token=${link.token}`);
    const g = await guest.request('join', {});
    expect(g).toMatchObject({ name: 'Guest Star', role: 'publisher', canPublish: true });
    const viewer = await connect('room=guests');
    await viewer.request('join', {});
    expect(await errorCode(viewer.request('mintGuestLink', { name: 'Sneaky' }))).toBe('forbidden');
  });

  it('chat sync carries the log epoch; a sequence from another epoch gets a fresh snapshot, no gap', async () => {
    const a = await connect('room=epoch');
    const j = await a.request('join', { name: 'A' });
    expect(j.chat.epoch).toBe(node.rooms.get('epoch')!.chat.log.epoch);
    await a.request('chatSend', { text: 'one' });
    expect(await a.waitFor('chatMessage')).toMatchObject({ text: 'one', seq: 1, epoch: j.chat.epoch });
    const b = await connect('room=epoch');
    const jb = await b.request('join', { name: 'B', chatSince: 40, chatEpoch: 'an-older-server' });
    expect(jb.chat).toMatchObject({ gap: false, lastSeq: 1, epoch: j.chat.epoch });
    expect(jb.chat.snapshot!.map((m) => m.text)).toEqual(['one']);
    expect((await b.request('chatSync', { since: 0, epoch: j.chat.epoch })).events).toHaveLength(1);
  });
});

describe('shutdown', () => {
  it('tells clients `closing` shutdown (retry), unlike an admin closing the room', async () => {
    const node = await startTestNode({ MEDIASOUP_WORKERS: '1', DRAIN_GRACE_SECONDS: '0' });
    const c = await TestClient.connect(`${node.urls.ws}?room=bye`);
    await c.request('join', {});
    await node.drain(0);
    expect(await c.waitFor('draining')).toEqual({ retryAfterMs: 0 });
    const closed = node.close();
    expect(await c.waitFor('closing')).toEqual({ reason: 'server shutting down', code: 'shutdown' });
    expect((await c.closed).code).toBe(4000);
    await closed;
  });
});
