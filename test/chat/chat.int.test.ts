import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/protocol/messages.js';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';

const messagesOf = (c: TestClient) => c.notifications.filter((n) => n.method === 'chatMessage').map((n) => n.data as ChatMessage);
const until = async (cond: () => boolean, what: string, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('chat over real uWS sockets', () => {
  let node: Fourcast;
  const open: TestClient[] = [];
  const connect = async (room: string, opts: { token?: string; name?: string; chatSince?: number } = {}) => {
    const c = await TestClient.connect(`${node.urls.ws}?room=${room}${opts.token ? `&token=${opts.token}` : ''}`);
    open.push(c);
    const joined = await c.request('join', { ...(opts.name ? { name: opts.name } : {}), ...(opts.chatSince !== undefined ? { chatSince: opts.chatSince } : {}) });
    return { c, joined };
  };
  const token = (role: 'publisher' | 'viewer' | 'admin', room: string, name: string) => node.tokens.mint({ role, room, name, ttlSeconds: 600 });

  beforeAll(async () => {
    node = await startTestNode({ CHAT_HISTORY: '25', CHAT_RATE_PER_SECOND: '1', CHAT_BURST: '5', CHAT_MAX_LENGTH: '100', WS_REQUESTS_PER_SECOND: '5000' });
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await node?.close();
  });

  it('delivers every message to everyone in one order, per room', async () => {
    const senders = await Promise.all([0, 1, 2].map(async (i) => (await connect('order', { token: await token('publisher', 'order', `S${i}`) })).c));
    const { c: reader } = await connect('order', { name: 'Reader' });
    const { c: elsewhere } = await connect('other-room', { name: 'Elsewhere' });
    await Promise.all(senders.map((s, i) => Promise.all(Array.from({ length: 20 }, (_, k) => s.request('chatSend', { text: `${i}-${k}` })))));
    await until(() => messagesOf(reader).length === 60, '60 messages at the reader');
    for (const c of [reader, ...senders]) {
      await until(() => messagesOf(c).length === 60, '60 messages');
      expect(messagesOf(c).map((m) => m.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    }
    // Same order for everyone, and each sender's own messages in the order it sent them.
    const order = messagesOf(reader).map((m) => m.id);
    for (const s of senders) expect(messagesOf(s).map((m) => m.id)).toEqual(order);
    for (let i = 0; i < 3; i++) expect(messagesOf(reader).filter((m) => m.name === `S${i}`).map((m) => m.text)).toEqual(Array.from({ length: 20 }, (_, k) => `${i}-${k}`));
    expect(messagesOf(elsewhere)).toHaveLength(0);
  });

  it('sends the last 25 messages to someone who joins', async () => {
    const { c: host } = await connect('history', { token: await token('publisher', 'history', 'Host') });
    for (let i = 1; i <= 30; i++) await host.request('chatSend', { text: `msg ${i}` });
    const { joined } = await connect('history', { name: 'Late' });
    expect(joined.chat.snapshot!.map((m) => m.text)).toEqual(Array.from({ length: 25 }, (_, i) => `msg ${i + 6}`));
    expect(joined.chat.lastSeq).toBe(30);
    expect(joined.chat.gap).toBe(false);
  });

  it('replays exactly what a client missed during a forced disconnect', async () => {
    const { c: host } = await connect('gap', { token: await token('publisher', 'gap', 'Host') });
    const { c: viewer } = await connect('gap', { name: 'Flaky' });
    await host.request('chatSend', { text: 'before 1' });
    await host.request('chatSend', { text: 'before 2' });
    await until(() => messagesOf(viewer).length === 2, 'two messages');
    const lastSeen = messagesOf(viewer).at(-1)!.seq;
    viewer.ws.terminate(); // no close handshake: a network drop
    await viewer.closed;
    const missed = [];
    for (let i = 0; i < 5; i++) missed.push(await host.request('chatSend', { text: `while away ${i}` }));
    const del = await host.request('chatSend', { text: 'to be deleted' });
    await host.request('chatDelete', { messageId: del.id });
    const { joined } = await connect('gap', { name: 'Flaky', chatSince: lastSeen });
    expect(joined.chat.snapshot).toBeNull();
    expect(joined.chat.gap).toBe(false);
    expect(joined.chat.events.map((e) => e.seq)).toEqual(Array.from({ length: 7 }, (_, i) => lastSeen + 1 + i));
    const texts = joined.chat.events.flatMap((e) => (e.type === 'message' ? [e.message.text] : [e.type]));
    expect(texts).toEqual(['while away 0', 'while away 1', 'while away 2', 'while away 3', 'while away 4', 'to be deleted', 'delete']);
  });

  it('signals a gap when the missed messages are older than the log keeps', async () => {
    const { c: host } = await connect('oldgap', { token: await token('publisher', 'oldgap', 'Host') });
    for (let i = 0; i < 120; i++) await host.request('chatSend', { text: `m${i}` });
    const { joined } = await connect('oldgap', { name: 'Returning', chatSince: 3 });
    expect(joined.chat.gap).toBe(true);
    expect(joined.chat.snapshot).toHaveLength(25);
    expect(joined.chat.snapshot!.at(-1)!.text).toBe('m119');
  });

  it('rate-limits a chatty viewer with a typed error; others are unaffected', async () => {
    const { c: chatty } = await connect('rate', { name: 'Chatty' });
    const { c: calm } = await connect('rate', { name: 'Calm' });
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await errorCode(chatty.request('chatSend', { text: `spam ${i}` })));
    expect(results.slice(0, 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(results.slice(5)).toEqual(['rate-limited', 'rate-limited', 'rate-limited']);
    expect(await errorCode(calm.request('chatSend', { text: 'hello' }))).toBe('ok');
  });

  it('refuses over-long and empty messages, and normalises text', async () => {
    const { c } = await connect('limits', { name: 'Writer' });
    expect(await errorCode(c.request('chatSend', { text: 'x'.repeat(101) }))).toBe('too-large');
    expect(await errorCode(c.request('chatSend', { text: ' \u0000\u200b ' }))).toBe('bad-request');
    expect(await errorCode(c.request('chatSend', { text: 'y'.repeat(5000) }))).toBe('bad-request');
    await c.request('chatSend', { text: '  <b>bold</b>\u0007 ' });
    await until(() => messagesOf(c).length === 1, 'own message');
    expect(messagesOf(c)[0]!.text).toBe('<b>bold</b>');
  });

  it('propagates delete and clear to everyone; only moderators / admins may', async () => {
    const { c: host } = await connect('mod', { token: await token('publisher', 'mod', 'Host') });
    const { c: admin } = await connect('mod', { token: await token('admin', 'mod', 'Admin') });
    const { c: viewer } = await connect('mod', { name: 'V' });
    const sent = await viewer.request('chatSend', { text: 'rude' });
    expect(await errorCode(viewer.request('chatDelete', { messageId: sent.id }))).toBe('forbidden');
    await host.request('chatDelete', { messageId: sent.id });
    for (const c of [host, admin, viewer]) await c.waitFor('chatDeleted', (d) => d.id === sent.id);
    expect(await errorCode(host.request('chatDelete', { messageId: sent.id }))).toBe('not-found');
    expect(await errorCode(host.request('chatClear', {}))).toBe('forbidden');
    await viewer.request('chatSend', { text: 'again' });
    await admin.request('chatClear', {});
    for (const c of [host, admin, viewer]) await c.waitFor('chatCleared');
    const { joined } = await connect('mod', { name: 'Newcomer' });
    expect(joined.chat.snapshot).toEqual([]);
  });

  it('kicks and bans: the target is told why and cannot come back with a banned token', async () => {
    const { c: host } = await connect('ban', { token: await token('publisher', 'ban', 'Host') });
    const troll = await token('viewer', 'ban', 'Troll');
    const { c: t1, joined } = await connect('ban', { token: troll });
    await host.request('kick', { peerId: joined.peerId });
    expect((await t1.waitFor('closing')).code).toBe('kicked');
    expect((await t1.closed).code).toBe(4001);
    // A kick is not a ban.
    const { c: t2, joined: again } = await connect('ban', { token: troll });
    await host.request('ban', { peerId: again.peerId, reason: 'spam' });
    expect(await t2.waitFor('closing')).toMatchObject({ code: 'banned', reason: 'spam' });
    expect((await t2.closed).code).toBe(4003);
    const refused = await TestClient.connect(`${node.urls.ws}?room=ban&token=${troll}`).then(
      () => 0,
      (e: { status: number }) => e.status,
    );
    expect(refused).toBe(403);
    // Another viewer (another token) is fine; a viewer cannot kick.
    const { c: other, joined: otherJoined } = await connect('ban', { token: await token('viewer', 'ban', 'Fine') });
    expect(await errorCode(other.request('kick', { peerId: otherJoined.peerId }))).toBe('forbidden');
    const hostId = [...node.rooms.get('ban')!.peers.values()].find((p) => p.name === 'Host')!.id;
    expect(await errorCode(other.request('ban', { peerId: hostId }))).toBe('forbidden');
  });
});

describe('a slow reader', () => {
  let node: Fourcast;
  beforeAll(async () => {
    node = await startTestNode({ WS_MAX_BUFFER_BYTES: String(256 * 1024), CHAT_MAX_LENGTH: '4000', WS_REQUESTS_PER_SECOND: '100000' });
  });
  afterAll(async () => node?.close());

  it('is dropped with a reason and a metric; memory stays bounded and others get everything', async () => {
    const host = await TestClient.connect(`${node.urls.ws}?room=slow&token=${await node.tokens.mint({ role: 'publisher', room: 'slow', name: 'Host', ttlSeconds: 600 })}`);
    await host.request('join', {});
    const slow = await TestClient.connect(`${node.urls.ws}?room=slow`);
    await slow.request('join', { name: 'Stalled' });
    const fast = await TestClient.connect(`${node.urls.ws}?room=slow`);
    await fast.request('join', { name: 'Fast' });
    // Stop reading: the kernel buffers fill, then uWS's buffer for this socket grows.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const text = 'z'.repeat(3900);
    const total = 6000; // ~24 MB towards the stalled socket
    let maxBuffered = 0;
    const bufferedNow = async () => Number(/^fourcast_ws_max_buffered_bytes (\d+)/m.exec(await node.metrics.text())?.[1] ?? 0);
    const watcher = setInterval(() => void bufferedNow().then((b) => (maxBuffered = Math.max(maxBuffered, b))), 20);
    for (let i = 0; i < total; i += 50) await Promise.all(Array.from({ length: 50 }, () => host.request('chatSend', { text })));
    await until(() => messagesOf(fast).length === total, 'fast reader got everything', 60_000);
    await until(() => !node.rooms.get('slow')!.participants().some((p) => p.name === 'Stalled'), 'stalled reader dropped', 15_000);
    clearInterval(watcher);
    const metrics = await node.metrics.text();
    expect(metrics).toMatch(/fourcast_ws_backpressure_drops_total 1/);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.closed;
    expect([4008, 1006]).toContain(closed.code);
    // 24 MB were addressed to the stalled client; the server never held more than 2× the bound for it.
    expect(maxBuffered).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(2 * 256 * 1024 + 8 * 1024);
    host.close();
    fast.close();
  });
});
