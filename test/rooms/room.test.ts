import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { types as ms } from 'mediasoup';
import { Room } from '../../src/rooms/room.js';
import { Peer } from '../../src/rooms/peer.js';
import { BanList } from '../../src/moderation/banList.js';
import type { Role } from '../../src/protocol/messages.js';
import { fakeRoomMedia, type FakeRoomMedia } from '../helpers/fakeMedia.js';

// Room's own rules (membership, the four slots, chat policy, moderation, presence)
// with a fake media layer: no worker, so interleavings are exact rather than timed.

const log = pino({ level: 'silent' });
const transport = {} as ms.Transport;
const rtp = {} as ms.RtpParameters;

interface Sent {
  method: string;
  data: Record<string, unknown>;
}

function setup(opts: { presenceIntervalMs?: number } = {}) {
  const media = fakeRoomMedia();
  const published: Sent[] = [];
  const bans = new BanList(60_000);
  const room = new Room<FakeRoomMedia & typeof media>({
    id: 'r1',
    media,
    log,
    publish: (_topic, message) => void published.push(JSON.parse(message) as Sent),
    keyFrameRequestDelayMs: 1000,
    presenceIntervalMs: opts.presenceIntervalMs ?? 0,
    chat: { history: 10, maxLength: 20, ratePerSecond: 1, burst: 1 },
    participantListMax: 50,
    bans: bans.forRoom('r1'),
    invitations: { ttlMs: 60_000, publishTimeoutMs: 30_000 },
    calls: {
      policy: 'everyone',
      ringMs: 30_000,
      createMedia: () => {
        throw new Error('no call media in unit tests');
      },
    },
  });
  let n = 0;
  const peer = (role: Role, name = `${role}-${++n}`, extra: { tokenId?: string; banKeys?: string[] } = {}) => {
    const inbox: Sent[] = [];
    const closes: number[] = [];
    const id = `peer-${++n}`;
    const p = new Peer(
      id,
      name,
      role,
      { send: (m) => void inbox.push(JSON.parse(m) as Sent), close: (code) => void closes.push(code) },
      log,
      extra.banKeys ?? [`ip:198.51.100.${n}`],
      extra.tokenId,
    );
    return Object.assign(p, { inbox, closes });
  };
  const notes = (method: string) => published.filter((m) => m.method === method).map((m) => m.data);
  return { room, media, published, notes, peer, bans };
}

const live = (room: Room<never>, p: Peer, source: 'camera' | 'mic' = 'camera') =>
  room.stage.produceOn(p, transport, { kind: source === 'camera' ? 'video' : 'audio', rtpParameters: rtp, source });

describe('Room with a fake media layer', () => {
  it('join answers with the stage and chat; a viewer cannot take a host’s name or a role word', async () => {
    const { room, peer } = setup();
    const host = peer('publisher', 'Ada');
    await room.join(host);
    await live(room as never, host);
    const fan = peer('viewer', 'ada');
    const j = await room.join(fan);
    expect(j.publishers).toEqual([{ peerId: host.id, name: 'Ada', producers: [expect.objectContaining({ kind: 'video', source: 'camera' })] }]);
    expect(j.name).toMatch(/^Viewer \d{4}$/);
    const admin = await room.join(peer('viewer', 'Admin'));
    expect(admin.name).toMatch(/^Viewer \d{4}$/);
    expect(room.viewerCount).toBe(2);
  });

  it('four slots under concurrent produces: exactly four seats, the fifth gets stage-full, nothing is announced for it', async () => {
    const { room, media, peer, notes } = setup();
    const hosts = [1, 2, 3, 4, 5].map((i) => peer('publisher', `Host ${i}`));
    for (const h of hosts) await room.join(h);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    for (const h of hosts) media.unitOf(h).gate = gate;
    const results = hosts.map((h) => live(room as never, h).then(() => 'ok', (e: { code: string }) => e.code));
    open();
    const codes = await Promise.all(results);
    expect(codes.filter((c) => c === 'ok')).toHaveLength(4);
    expect(codes.filter((c) => c === 'stage-full')).toHaveLength(1);
    expect(room.stage.size).toBe(4);
    expect(notes('newProducer')).toHaveLength(4);
    expect(notes('publisherJoined')).toHaveLength(4);
  });

  it('a produce that finishes after its peer left closes the producer, frees the slot and announces nothing', async () => {
    const { room, media, peer, notes } = setup();
    const host = peer('publisher');
    await room.join(host);
    let open!: () => void;
    media.unitOf(host).gate = new Promise<void>((r) => (open = r));
    const pending = live(room as never, host).then(() => 'ok', (e: { code: string }) => e.code);
    expect(room.stage.size).toBe(1); // the slot is held from before the first await
    room.leave(host);
    open();
    expect(await pending).toBe('invalid-state');
    expect(room.stage.size).toBe(0);
    expect(notes('newProducer')).toHaveLength(0);
    expect(media.unitOf(host).producers.size).toBe(0);
  });

  it('a full stage that frees a seat tells the hosts waiting for one', async () => {
    const { room, peer } = setup();
    const hosts = [1, 2, 3, 4].map(() => peer('publisher'));
    for (const h of hosts) {
      await room.join(h);
      await live(room as never, h);
    }
    const waiting = peer('publisher');
    await room.join(waiting);
    await expect(live(room as never, waiting)).rejects.toMatchObject({ code: 'stage-full' });
    const p = [...hosts[0]!.producers.values()][0]!;
    room.stage.closeProducer(hosts[0]!, { producerId: p.producer.id });
    expect(waiting.inbox.filter((m) => m.method === 'seatAvailable').map((m) => m.data)).toEqual([{ free: 1 }]);
    await live(room as never, waiting);
    expect(room.stage.peers).toContain(waiting);
  });

  it('one connection per broadcaster link: a second tab gets in-use; takeOver closes the first with code 4009', async () => {
    const { room, peer } = setup();
    const first = peer('publisher', 'Ada', { tokenId: 'jti-1' });
    await room.join(first);
    await expect(room.join(peer('publisher', 'Ada', { tokenId: 'jti-1' }))).rejects.toMatchObject({ code: 'in-use' });
    const second = peer('publisher', 'Ada', { tokenId: 'jti-1' });
    await room.join(second, { takeOver: true });
    expect(first.closes).toEqual([4009]);
    expect(first.inbox.at(-1)).toMatchObject({ method: 'closing', data: { code: 'replaced' } });
    expect([...room.peers.values()]).toEqual([second]);
  });

  it('moderation: viewers cannot kick, hosts cannot remove hosts, a ban holds for the next join', async () => {
    const { room, peer } = setup();
    const host = peer('publisher');
    const other = peer('publisher');
    const troll = peer('viewer', 'troll', { banKeys: ['ip:203.0.113.9'] });
    for (const p of [host, other, troll]) await room.join(p);
    expect(() => room.moderation.kick(host.id, { by: troll })).toThrow(expect.objectContaining({ code: 'forbidden' }));
    expect(() => room.moderation.kick(other.id, { by: host })).toThrow(expect.objectContaining({ code: 'forbidden' }));
    room.moderation.kick(troll.id, { by: host, ban: true, reason: 'x'.repeat(300) });
    expect(troll.closes).toEqual([4003]);
    expect(room.peers.has(troll.id)).toBe(false);
    await expect(room.join(peer('viewer', 'again', { banKeys: ['ip:203.0.113.9'] }))).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('a moderator mute pauses the mic and stays: resume is refused, a new mic starts paused', async () => {
    const { room, peer } = setup();
    const host = peer('publisher');
    await room.join(host);
    const mic = await live(room as never, host, 'mic');
    expect(await room.moderation.mute(host)).toBe(1);
    expect(host.inbox.map((m) => m.method)).toContain('moderatorMuted');
    await expect(room.stage.setPaused(host, mic.id, false)).rejects.toMatchObject({ code: 'forbidden' });
    room.stage.closeProducer(host, { producerId: mic.id });
    const again = await live(room as never, host, 'mic');
    expect(again.paused).toBe(true);
  });

  it('chat: normalised text goes to everyone with its sequence; only moderators delete, only admins clear', async () => {
    const { room, peer, notes } = setup();
    const host = peer('publisher');
    const fan = peer('viewer');
    await room.join(host);
    await room.join(fan);
    const sent = await room.chat.send(fan, '  hi\u0007 there ');
    expect(notes('chatMessage')).toEqual([expect.objectContaining({ text: 'hi there', seq: sent.seq, peerId: fan.id })]);
    await expect(room.chat.send(fan, 'x'.repeat(21))).rejects.toMatchObject({ code: 'too-large' });
    await expect(room.chat.send(fan, '\u3164')).rejects.toMatchObject({ code: 'bad-request' });
    await expect(room.chat.delete(sent.id, fan)).rejects.toMatchObject({ code: 'forbidden' });
    await room.chat.delete(sent.id, host);
    expect(notes('chatDeleted')).toHaveLength(1);
    await expect(room.chat.clear(host)).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('describe() is a snapshot: counts, stage, producers by kind, participants on request', async () => {
    const { room, peer } = setup();
    const host = peer('publisher', 'Ada');
    await room.join(host);
    await live(room as never, host);
    await live(room as never, host, 'mic');
    await room.join(peer('viewer'));
    const s = room.describe();
    expect(s).toMatchObject({ id: 'r1', viewers: 1, peers: 2, publishers: [{ peerId: host.id, name: 'Ada' }], producers: { audio: 1, video: 1 } });
    expect(s.participants).toHaveLength(2);
    expect(s.participants!.find((p) => p.peerId === host.id)!.producers.map((p) => p.source).sort()).toEqual(['camera', 'mic']);
    expect(room.describe({ participants: false }).participants).toBeUndefined();
  });

  it('a lost router resets only the peers it carried', async () => {
    const { room, media, peer } = setup();
    const a = peer('viewer');
    const b = peer('viewer');
    const host = peer('publisher');
    for (const p of [host, a, b]) await room.join(p);
    const rr = { workerIndex: 1 };
    media.unitOf(a).routers.add(rr);
    media.loseRouter(rr, false);
    expect(a.inbox.map((m) => m.method)).toContain('mediaReset');
    expect(b.inbox.map((m) => m.method)).not.toContain('mediaReset');
    expect(media.unitOf(a).resets).toBe(1);
  });

  it('the active speaker is announced once per change, levels by peer; unknown producers are ignored', async () => {
    const { room, media, peer, notes } = setup();
    const host = peer('publisher');
    await room.join(host);
    const mic = await live(room as never, host, 'mic');
    media.emit('dominantspeaker', mic.id);
    media.emit('dominantspeaker', mic.id);
    media.emit('dominantspeaker', 'not-on-stage');
    expect(notes('activeSpeaker')).toEqual([{ peerId: host.id }, { peerId: null }]);
    media.emit('volumes', [
      { producerId: mic.id, volume: -20 },
      { producerId: 'gone', volume: -10 },
    ]);
    expect(notes('audioLevels')).toEqual([{ levels: [{ peerId: host.id, volume: -20 }] }]);
  });

  it('the last leave empties the room; close tells everyone and closes the media', async () => {
    const { room, media, peer } = setup();
    const a = peer('viewer');
    await room.join(a);
    let empty = 0;
    room.on('empty', () => empty++);
    room.leave(a);
    expect(empty).toBe(1);
    const b = peer('viewer');
    await room.join(b);
    room.close('bye');
    expect(b.closes).toEqual([4000]);
    expect(media.closed).toBe(true);
    await expect(room.join(peer('viewer'))).rejects.toMatchObject({ code: 'invalid-state' });
  });
});
