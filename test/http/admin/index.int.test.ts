import crypto from 'node:crypto';
import fs from 'node:fs';
import * as mediasoup from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Fourcast } from '../../../src/server.js';
import type { ResponseData } from '../../../src/protocol/messages.js';
import type { RoomSnapshot } from '../../../src/rooms/snapshot.js';
import { startTestNode } from '../../helpers/server.js';
import { TestClient } from '../../helpers/wsClient.js';
import { opus } from '../../helpers/rtpParameters.js';

const ADMIN = 'admin-token-for-the-int-test-42';

/** One producer of one participant, as the room's snapshot shows it. */
const producerOf = (snap: RoomSnapshot, peerId: string, producerId: string) =>
  snap.participants?.find((p) => p.peerId === peerId)?.producers.find((x) => x.producerId === producerId);

/** Lets in-flight frames arrive before asserting that something did not happen. */
const settle = () => new Promise((r) => setTimeout(r, 300));

describe('admin routes against a live node (real workers, real sockets)', () => {
  let node: Fourcast;
  const clients: TestClient[] = [];

  const connect = async (query: string) => {
    const c = await TestClient.connect(`${node.urls.ws}?${query}`);
    clients.push(c);
    return c;
  };
  const viewer = async (room: string, name: string) => {
    const c = await connect(`room=${room}`);
    const joined = await c.request('join', { name });
    return { client: c, joined, peerId: joined.peerId };
  };
  /** A publisher on stage with one audio (mic) producer, produced over the protocol. */
  const publisherWithMic = async (room: string, name = 'Host', ssrc = 4444) => {
    const token = await node.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 });
    const c = await connect(`room=${room}&token=${token}`);
    const joined = await c.request('join', {});
    const send = await c.request('createTransport', { direction: 'send' });
    const { producerId } = await c.request('produce', { transportId: send.transportId, kind: 'audio', source: 'mic', rtpParameters: opus(ssrc) });
    return { client: c, joined, peerId: joined.peerId, producerId };
  };
  const admin = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown, token: string | null = ADMIN) => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${node.urls.http}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as T };
  };
  const isOpen = (c: TestClient) => c.ws.readyState === WebSocket.OPEN;
  const closingOf = (c: TestClient) => c.notifications.filter((n) => n.method === 'closing');

  beforeAll(async () => {
    node = await startTestNode({ ADMIN_TOKEN: ADMIN });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await node?.close();
  });

  it('refuses every route without the right token and changes nothing', async () => {
    const room = 'adm-auth';
    const pub = await publisherWithMic(room);
    const v = await viewer(room, 'Vic');
    const sent = await pub.client.request('chatSend', { text: 'keep me' });
    const before = (await admin<{ rooms: unknown[] }>('GET', '/admin/rooms')).body;
    const seqBefore = node.rooms.get(room)!.describe({ participants: false }).chat.lastSeq;

    const routes: [string, string, unknown?][] = [
      ['GET', '/admin/rooms'],
      ['GET', `/admin/rooms/${room}`],
      ['DELETE', `/admin/rooms/${room}`],
      ['POST', `/admin/rooms/${room}/peers/${v.peerId}/kick`, { reason: 'x' }],
      ['POST', `/admin/rooms/${room}/peers/${v.peerId}/ban`, { reason: 'x' }],
      ['POST', `/admin/rooms/${room}/peers/${pub.peerId}/mute`],
      ['DELETE', `/admin/rooms/${room}/chat`],
      ['DELETE', `/admin/rooms/${room}/chat/${sent.id}`],
      ['GET', '/admin/workers'],
      ['POST', '/admin/tokens', { role: 'admin', room: '*', name: 'Mallory' }],
    ];
    for (const token of [null, 'wrong-token-wrong-token-0000', `${ADMIN} `.repeat(2).trim()]) {
      for (const [method, path, body] of routes) {
        const res = await admin(method, path, body, token);
        expect(res.status, `${method} ${path} with ${token ?? 'no token'}`).toBe(401);
        expect(res.body).toEqual({ error: 'unauthorized', message: expect.any(String) });
      }
    }
    await settle();

    // Nothing happened: same room, peers, chat and media; no client heard anything.
    const r = node.rooms.get(room)!;
    expect(r.closed).toBe(false);
    expect([...r.peers.keys()].sort()).toEqual([pub.peerId, v.peerId].sort());
    const snap = r.describe();
    expect(snap.chat.messages).toBe(1);
    expect(snap.chat.lastSeq).toBe(seqBefore);
    expect(producerOf(snap, pub.peerId, pub.producerId)?.paused).toBe(false);
    for (const c of [pub.client, v.client]) {
      expect(isOpen(c)).toBe(true);
      for (const m of ['closing', 'chatCleared', 'chatDeleted', 'producerPaused']) expect(c.notifications.some((n) => n.method === m), m).toBe(false);
    }
    expect((await admin('GET', '/admin/rooms')).body).toEqual(before);
  });

  it('lists rooms and describes one with participants and routers', async () => {
    const room = 'adm-list';
    const pub = await publisherWithMic(room, 'Host', 5555);
    const v = await viewer(room, 'Vic');
    await v.client.request('createTransport', { direction: 'recv' });
    await v.client.request('setRtpCapabilities', { rtpCapabilities: pub.joined.routerRtpCapabilities as never });
    await v.client.request('consume', { producerId: pub.producerId });
    await pub.client.request('chatSend', { text: 'hello' });

    const list = await admin<{ rooms: { id: string }[] }>('GET', '/admin/rooms');
    expect(list.status).toBe(200);
    const entry = list.body.rooms.find((r) => r.id === room);
    expect(entry).toEqual({
      id: room,
      publishers: [{ peerId: pub.peerId, name: 'Host', relay: false }],
      viewers: 1,
      peers: 2,
      workers: [0],
      chatMessages: 1,
      createdAt: new Date(node.rooms.get(room)!.createdAt).toISOString(),
    });

    const detail = await admin<{ participants: { peerId: string }[] }>('GET', `/admin/rooms/${room}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ id: room, chat: { messages: 1 }, routers: [{ worker: 0, viewers: 1, origin: true }] });
    const byId = new Map(detail.body.participants.map((p) => [p.peerId, p]));
    expect(byId.get(pub.peerId)).toMatchObject({ name: 'Host', role: 'publisher', onStage: true, producers: 1, consumers: 0, recvWorker: null });
    expect(byId.get(v.peerId)).toMatchObject({ name: 'Vic', role: 'viewer', onStage: false, producers: 0, consumers: 1, recvWorker: 0 });

    expect((await admin('GET', '/admin/rooms/no-such-room')).status).toBe(404);
  });

  it('mute pauses the publisher’s audio producer and viewers hear producerPaused', async () => {
    const room = 'adm-mute';
    const pub = await publisherWithMic(room);
    const v = await viewer(room, 'Vic');

    const res = await admin('POST', `/admin/rooms/${room}/peers/${pub.peerId}/mute`);
    expect(res).toEqual({ status: 200, body: { muted: 1 } });
    expect(await v.client.waitFor('producerPaused', (d) => d.producerId === pub.producerId)).toEqual({ producerId: pub.producerId, peerId: pub.peerId });
    expect(producerOf(node.rooms.get(room)!.describe(), pub.peerId, pub.producerId)?.paused).toBe(true);
    // Already muted: nothing more to pause. A viewer has no audio to mute.
    expect((await admin('POST', `/admin/rooms/${room}/peers/${pub.peerId}/mute`)).body).toEqual({ muted: 0 });
    expect((await admin('POST', `/admin/rooms/${room}/peers/${v.peerId}/mute`)).body).toEqual({ muted: 0 });
    expect((await admin('POST', `/admin/rooms/${room}/peers/nobody/mute`)).status).toBe(404);
  });

  it('kick closes the target (closing kicked, code 4001) and leaves the others be', async () => {
    const room = 'adm-kick';
    const a = await viewer(room, 'Ann');
    const b = await viewer(room, 'Bob');

    const res = await admin('POST', `/admin/rooms/${room}/peers/${a.peerId}/kick`, { reason: 'off-topic' });
    expect(res).toEqual({ status: 200, body: { room, peerId: a.peerId, banned: false } });
    expect(await a.client.waitFor('closing')).toEqual({ reason: 'off-topic', code: 'kicked' });
    expect((await a.client.closed).code).toBe(4001);

    await settle();
    expect(isOpen(b.client)).toBe(true);
    expect(closingOf(b.client)).toEqual([]);
    await expect(b.client.request('chatSend', { text: 'still here' })).resolves.toMatchObject({ seq: expect.any(Number) });
    expect([...node.rooms.get(room)!.peers.keys()]).toEqual([b.peerId]);
    // A kick is not a ban: the same client may come back.
    await expect(viewer(room, 'Ann')).resolves.toMatchObject({ joined: { room } });
    expect((await admin('POST', `/admin/rooms/${room}/peers/${a.peerId}/kick`)).status).toBe(404);
  });

  it('ban closes the target and its token is refused (403) when it reconnects', async () => {
    const room = 'adm-ban';
    const token = await node.tokens.mint({ role: 'viewer', room, name: 'Troll', ttlSeconds: 600 });
    const troll = await connect(`room=${room}&token=${token}`);
    const { peerId } = await troll.request('join', {});
    const other = await viewer(room, 'Nice');

    const res = await admin('POST', `/admin/rooms/${room}/peers/${peerId}/ban`, {});
    expect(res).toEqual({ status: 200, body: { room, peerId, banned: true } });
    expect(await troll.waitFor('closing')).toMatchObject({ code: 'banned' });
    expect((await troll.closed).code).toBe(4003);

    const again = await TestClient.connect(`${node.urls.ws}?room=${room}&token=${token}`).then(
      (c) => {
        clients.push(c);
        return { status: 101, body: {} };
      },
      (e: { status: number; body: unknown }) => ({ status: e.status, body: e.body }),
    );
    expect(again).toEqual({ status: 403, body: { error: 'banned', message: expect.any(String) } });
    // The ban is for that token: another viewer token for the room still gets in.
    const fresh = await node.tokens.mint({ role: 'viewer', room, name: 'Newcomer', ttlSeconds: 600 });
    await expect((await connect(`room=${room}&token=${fresh}`)).request('join', {})).resolves.toMatchObject({ room });
    expect(isOpen(other.client)).toBe(true);
  });

  it('clear chat empties the history: clients get chatCleared, a new joiner an empty snapshot', async () => {
    const room = 'adm-clear';
    const pub = await publisherWithMic(room);
    const v = await viewer(room, 'Vic');
    for (const text of ['one', 'two', 'three']) await pub.client.request('chatSend', { text });
    const before = await viewer(room, 'Early');
    expect(before.joined.chat.snapshot?.map((m) => m.text)).toEqual(['one', 'two', 'three']);

    const res = await admin<{ seq: number }>('DELETE', `/admin/rooms/${room}/chat`);
    expect(res.status).toBe(200);
    for (const c of [pub.client, v.client, before.client]) expect(await c.waitFor('chatCleared')).toEqual({ seq: res.body.seq });

    const late = await viewer(room, 'Late');
    expect(late.joined.chat.snapshot).toEqual([]);
    expect((await admin<{ rooms: { id: string; chatMessages: number }[] }>('GET', '/admin/rooms')).body.rooms.find((r) => r.id === room)?.chatMessages).toBe(0);
  });

  it('delete message removes one: clients get chatDeleted, later joiners do not see it', async () => {
    const room = 'adm-delete';
    const pub = await publisherWithMic(room);
    const v = await viewer(room, 'Vic');
    const bad = await pub.client.request('chatSend', { text: 'oops' });
    await pub.client.request('chatSend', { text: 'fine' });

    const res = await admin<{ seq: number }>('DELETE', `/admin/rooms/${room}/chat/${bad.id}`);
    expect(res).toEqual({ status: 200, body: { room, messageId: bad.id, seq: expect.any(Number) } });
    expect(await v.client.waitFor('chatDeleted')).toEqual({ id: bad.id, seq: res.body.seq });
    expect((await viewer(room, 'Late')).joined.chat.snapshot?.map((m) => m.text)).toEqual(['fine']);
    expect(await admin('DELETE', `/admin/rooms/${room}/chat/${bad.id}`)).toEqual({ status: 404, body: { error: 'not-found', message: expect.any(String) } });
  });

  it('mints tokens that join with the right role and name', async () => {
    const room = 'adm-tokens';
    const httpPort = new URL(node.urls.http).port;
    type Minted = { token: string; links: { broadcast?: string; watch: string } };

    const v = await admin<Minted>('POST', '/admin/tokens', { role: 'viewer', room, name: 'Vera', ttlSeconds: 600 });
    expect(v.status).toBe(201);
    expect(new URL(v.body.links.watch).port).toBe(httpPort);
    const vc = await connect(`room=${room}&token=${v.body.token}`);
    const vj: ResponseData['join'] = await vc.request('join', {});
    expect(vj).toMatchObject({ room, role: 'viewer', name: 'Vera', canPublish: false, moderator: false });

    const p = await admin<Minted>('POST', '/admin/tokens', { role: 'publisher', room, name: 'Paul' });
    expect(p.status).toBe(201);
    expect(new URL(p.body.links.broadcast!).searchParams.get('token')).toBe(p.body.token);
    const pc = await connect(`room=${room}&token=${p.body.token}`);
    expect(await pc.request('join', {})).toMatchObject({ room, role: 'publisher', name: 'Paul', canPublish: true });
    await expect(pc.request('createTransport', { direction: 'send' })).resolves.toMatchObject({ transportId: expect.any(String) });

    const a = await admin<Minted>('POST', '/admin/tokens', { role: 'admin', room: '*', name: 'Ops' });
    const ac = await connect(`room=${room}&token=${a.body.token}`);
    expect(await ac.request('join', {})).toMatchObject({ room, role: 'admin', name: 'Ops', moderator: true });
  });

  it('reports workers matching the pool', async () => {
    const room = 'adm-workers';
    const pub = await publisherWithMic(room, 'Host', 6666);
    const v = await viewer(room, 'Vic');
    await v.client.request('createTransport', { direction: 'recv' });
    await v.client.request('setRtpCapabilities', { rtpCapabilities: pub.joined.routerRtpCapabilities as never });
    await v.client.request('consume', { producerId: pub.producerId });

    const res = await admin<{ workers: Record<string, unknown>[] }>('GET', '/admin/workers');
    expect(res.status).toBe(200);
    expect(res.body.workers).toHaveLength(node.pool.workers.length);
    for (const [i, w] of node.pool.workers.entries()) {
      expect(res.body.workers[i]).toEqual({
        index: w.index,
        pid: w.pid,
        port: w.port,
        up: true,
        responding: true,
        consumers: w.consumers,
        routers: w.routers,
        transports: w.transports,
        cpu: expect.any(Number),
        viewers: w.viewers,
        packetBudget: node.pool.budgetUsed(w),
        busy: false,
        resourceUsage: { ru_utime: expect.any(Number), ru_stime: expect.any(Number), ru_maxrss: expect.any(Number) },
      });
    }
    const w0 = res.body.workers[0] as { consumers: number; routers: number; transports: number; resourceUsage: { ru_maxrss: number } };
    expect(w0.consumers).toBeGreaterThanOrEqual(1);
    expect(w0.transports).toBeGreaterThanOrEqual(2);
    expect(w0.resourceUsage.ru_maxrss).toBeGreaterThan(1024);
    // The viewer's placement (and the broadcaster's, if it watches) reserves its packet rate.
    const placed = res.body.workers.reduce((n, w) => n + (w.viewers as number), 0);
    expect(placed).toBeGreaterThanOrEqual(1);
    expect(res.body.workers.some((w) => (w.packetBudget as number) > 0)).toBe(true);
  });

  it('names the worker binary the pool runs, with an origin that matches the file', async () => {
    const res = await admin<{ binary: { path: string; origin: string; mediasoupVersion: string; sha256?: string; cacheKey?: string } }>('GET', '/admin/workers');
    const { binary } = res.body;
    expect(binary.path).toBe(mediasoup.workerBin);
    expect(binary.sha256).toBe(crypto.createHash('sha256').update(fs.readFileSync(mediasoup.workerBin)).digest('hex'));
    // A record next to the binary that describes this very file is believed; anything else is "unknown".
    const recordFile = `${mediasoup.workerBin}.origin.json`;
    const record = fs.existsSync(recordFile) ? (JSON.parse(fs.readFileSync(recordFile, 'utf8')) as { origin: string; sha256: string; mediasoupVersion: string; cacheKey?: string }) : undefined;
    if (record && record.sha256 === binary.sha256) {
      expect(binary).toMatchObject({ origin: record.origin, mediasoupVersion: record.mediasoupVersion });
      expect(['prebuilt', 'source']).toContain(binary.origin);
    } else {
      expect(binary).toMatchObject({ origin: 'unknown', mediasoupVersion: mediasoup.version });
    }
  });

  it('closing a room sends closing room-closed to every client and closes their sockets (4000)', async () => {
    const room = 'adm-close';
    const pub = await publisherWithMic(room);
    const v = await viewer(room, 'Vic');

    const res = await admin('DELETE', `/admin/rooms/${room}?reason=${encodeURIComponent('show is over')}`);
    expect(res).toEqual({ status: 200, body: { room, closed: true, peers: 2 } });
    for (const c of [pub.client, v.client]) {
      expect(await c.waitFor('closing')).toEqual({ reason: 'show is over', code: 'room-closed' });
      expect((await c.closed).code).toBe(4000);
    }
    expect((await admin<{ rooms: { id: string }[] }>('GET', '/admin/rooms')).body.rooms.map((r) => r.id)).not.toContain(room);
    expect((await admin('GET', `/admin/rooms/${room}`)).status).toBe(404);
    expect((await admin('DELETE', `/admin/rooms/${room}`)).status).toBe(404);
  });
});
