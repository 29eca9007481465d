import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage, ResponseData } from '../../src/protocol/messages.js';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';

const ADMIN = 'admin-token-for-the-cluster-chat-test';
// Every client here is 127.0.0.1: the per-participant and per-address chat budgets are raised
// so the test measures ordering, not rate limits (those have their own tests).
const ENV = { ADMIN_TOKEN: ADMIN, CHAT_RATE_PER_SECOND: '1000', CHAT_BURST: '1000', CHAT_ADDRESS_RATE_PER_SECOND: '10000', CHAT_ADDRESS_BURST: '10000' };

type Joined = { client: TestClient; info: ResponseData['join'] };

/** What a client was told of the chat, in arrival order: [seq, kind, id or text]. */
function chatSeen(c: TestClient): [number, string, string][] {
  const out: [number, string, string][] = [];
  for (const n of c.notifications) {
    const d = n.data as { seq: number; id?: string; text?: string };
    if (n.method === 'chatMessage') out.push([d.seq, 'message', d.id!]);
    else if (n.method === 'chatDeleted') out.push([d.seq, 'delete', d.id!]);
    else if (n.method === 'chatCleared') out.push([d.seq, 'clear', '']);
  }
  return out;
}

// Three whole nodes on one Redis of the test's own: a room's chat is one log for the
// cluster (one sequence, the same events in the same order on every node), a client that
// reconnects to another node gets exactly what it missed, moderation applies everywhere,
// and Redis going away costs chat, not the nodes.
describe('chat across a cluster (three nodes, real Redis)', () => {
  let redis: TestRedis;
  const nodes: Fourcast[] = [];
  const clients: TestClient[] = [];

  const joinOn = async (node: Fourcast, room: string, data: Record<string, unknown> = {}): Promise<Joined> => {
    const client = await TestClient.connect(`${node.urls.ws}?room=${room}`);
    clients.push(client);
    const info = await client.request('join', { name: 'Fan', ...data });
    return { client, info };
  };

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 3; i++) nodes.push(await startTestNode({ ...ENV, REDIS_URL: redis.url }));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const n of nodes) await n.close();
    await redis?.stop();
  });

  it('a line sent on one node reaches every node in one order with the same sequence numbers', async () => {
    const [a, b, c] = nodes as [Fourcast, Fourcast, Fourcast];
    const onA = await joinOn(a, 'stage-1');
    const onB = await joinOn(b, 'stage-1');
    const onC = await joinOn(c, 'stage-1');
    expect(new Set([onA, onB, onC].map((j) => j.info.chat.epoch)).size).toBe(1);

    const first = await onC.client.request('chatSend', { text: 'hello from C' });
    for (const j of [onA, onB, onC]) {
      const m = await j.client.waitFor('chatMessage', (d) => d.id === first.id);
      expect(m).toMatchObject({ seq: first.seq, text: 'hello from C', epoch: onA.info.chat.epoch });
    }

    // 30 lines at once, 10 from each node: one gap-free sequence, the same order everywhere.
    const sends = [onA, onB, onC].flatMap((j, n) => Array.from({ length: 10 }, (_, i) => j.client.request('chatSend', { text: `line ${n}-${i}` })));
    const acks = await Promise.all(sends);
    const seqs = acks.map((x) => x.seq).sort((p, q) => p - q);
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => first.seq + 1 + i));
    for (const j of [onA, onB, onC]) await poll(async () => chatSeen(j.client).length, (n) => n === 31, 10_000, 'all 31 lines');
    const seenA = chatSeen(onA.client);
    expect(chatSeen(onB.client)).toEqual(seenA);
    expect(chatSeen(onC.client)).toEqual(seenA);
    expect(seenA.map(([seq]) => seq)).toEqual(Array.from({ length: 31 }, (_, i) => first.seq + i));
    // Each node counts what it fanned out, under its own `node` label (the id /admin/cluster gives).
    for (const n of [a, b, c]) {
      const self = ((await (await fetch(`${n.urls.http}/admin/cluster`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { self: string }).self;
      const text = await (await fetch(`${n.urls.http}/metrics`)).text();
      expect(text).toContain(`fourcast_chat_messages_total{direction="out",node="${self}"} 31`);
    }
    const late = await joinOn(a, 'stage-1');
    expect(late.info.chat.snapshot?.map((m) => m.seq)).toEqual(seenA.slice(-25).map(([seq]) => seq)); // CHAT_HISTORY default 25
  });

  it('a client that reconnects to another node gets exactly the lines it missed, no repeats and no holes', async () => {
    const [a, b, c] = nodes as [Fourcast, Fourcast, Fourcast];
    const writer = await joinOn(a, 'stage-2');
    for (let i = 0; i < 3; i++) await writer.client.request('chatSend', { text: `before ${i}` });
    // This viewer is on B; C has never seen the room (its replica starts when the viewer arrives).
    const viewer = await joinOn(b, 'stage-2');
    const since = viewer.info.chat.lastSeq;
    viewer.client.close();
    const missed: string[] = [];
    for (let i = 0; i < 5; i++) missed.push((await writer.client.request('chatSend', { text: `missed ${i}` })).id);
    const back = await joinOn(c, 'stage-2', { chatSince: since, chatEpoch: viewer.info.chat.epoch });
    expect(back.info.chat).toMatchObject({ snapshot: null, gap: false, epoch: viewer.info.chat.epoch, lastSeq: since + 5 });
    expect(back.info.chat.events.map((e) => (e.type === 'message' ? e.message.id : e.type))).toEqual(missed);
    expect(back.info.chat.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5].map((i) => since + i));

    // Once more, now that C follows the room: answered by C, same rules.
    const since2 = back.info.chat.lastSeq;
    back.client.close();
    const missed2 = (await writer.client.request('chatSend', { text: 'missed again' })).id;
    const again = await joinOn(c, 'stage-2', { chatSince: since2, chatEpoch: back.info.chat.epoch });
    expect(again.info.chat.snapshot).toBeNull();
    // In the answer, or (C had not heard of it yet) as the next notification: once either way.
    await new Promise((r) => setTimeout(r, 300));
    const got = [...again.info.chat.events.map((e) => (e.type === 'message' ? e.message.id : e.type)), ...chatSeen(again.client).map(([, , id]) => id)];
    expect(got).toEqual([missed2]);
  });

  it('deletes and clears apply on every node, from a moderator or from the admin API of any node', async () => {
    const [a, b, c] = nodes as [Fourcast, Fourcast, Fourcast];
    const token = await a.tokens.mint({ role: 'publisher', room: 'stage-3', name: 'Host', ttlSeconds: 600 });
    const host = await TestClient.connect(`${a.urls.ws}?room=stage-3&token=${token}`);
    clients.push(host);
    await host.request('join', {});
    const onB = await joinOn(b, 'stage-3');
    const onC = await joinOn(c, 'stage-3');
    const m1 = await onB.client.request('chatSend', { text: 'one' });
    const m2 = await onC.client.request('chatSend', { text: 'two' });
    await host.waitFor('chatMessage', (d) => d.id === m2.id);
    // A moderator on A deletes a line written on B.
    await host.request('chatDelete', { messageId: m1.id });
    for (const cl of [host, onB.client, onC.client]) expect(await cl.waitFor('chatDeleted', (d) => d.id === m1.id)).toEqual({ id: m1.id, seq: m2.seq + 1 });
    // A viewer may not; the admin API of node C may, for a line written on C.
    expect(await errorCode(onB.client.request('chatDelete', { messageId: m2.id }))).toBe('forbidden');
    const del = await fetch(`${c.urls.http}/admin/rooms/stage-3/chat/${m2.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ seq: m2.seq + 2 });
    for (const cl of [host, onB.client, onC.client]) await cl.waitFor('chatDeleted', (d) => d.id === m2.id);
    const clear = await fetch(`${b.urls.http}/admin/rooms/stage-3/chat`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(await clear.json()).toMatchObject({ seq: m2.seq + 3 });
    for (const cl of [host, onB.client, onC.client]) await cl.waitFor('chatCleared', (d) => d.seq === m2.seq + 3);
    // Every node now answers a fresh join with an empty history.
    for (const n of [a, b, c]) expect((await joinOn(n, 'stage-3')).info.chat.snapshot).toEqual([]);
  });

  it('with Redis away chat answers `unavailable` and nothing else stops; when Redis is back (empty) every node starts the new log', async () => {
    const [a, b] = nodes as [Fourcast, Fourcast, Fourcast];
    const onA = await joinOn(a, 'stage-4');
    const onB = await joinOn(b, 'stage-4');
    await onA.client.request('chatSend', { text: 'before the outage' });
    await redis.stop();
    await poll(() => errorCode(onA.client.request('chatSend', { text: 'during' })), (code) => code === 'unavailable', 15_000, 'chat unavailable');
    // Joining still works (the chat part is what the node has), within the bounded wait.
    const during = await joinOn(b, 'stage-4');
    expect(during.info.room).toBe('stage-4');
    const duringNew = await joinOn(a, 'stage-5');
    expect(duringNew.info.chat.snapshot).toEqual([]);

    await redis.start(); // empty: the room's log starts again with a new epoch
    await onA.client.waitFor('chatResync', (d) => d.epoch !== onA.info.chat.epoch, 20_000);
    await onB.client.waitFor('chatResync', (d) => d.epoch !== onA.info.chat.epoch, 20_000);
    const sent = await poll(
      () => onA.client.request('chatSend', { text: 'after' }).catch(() => undefined),
      (x) => x !== undefined,
      15_000,
      'chat back',
    );
    const got = (await onB.client.waitFor('chatMessage', (d) => d.id === sent!.id)) as ChatMessage & { epoch: string };
    expect(got.epoch).not.toBe(onA.info.chat.epoch);
    expect(got.seq).toBe(1);
  });
});
