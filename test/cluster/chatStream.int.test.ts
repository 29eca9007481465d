import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ChatLog } from '../../src/chat/chatLog.js';
import { ChatStream, type ChatStreamOptions, type ChatStreamUpdate } from '../../src/cluster/chatStream.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { RedisConnection } from '../../src/cluster/redis.js';
import type { ChatEvent, ChatMessage, ChatSync } from '../../src/protocol/messages.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

// Two or three "nodes", each with its own Redis connections and its own ChatStream for
// the room, against one real redis-server of the test's own.

let redis: TestRedis;
const cleanup: (() => Promise<void> | void)[] = [];
let roomN = 0;
let room = 'room-0';
const keys = new ClusterKeys('chat-test');

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  room = `room-${++roomN}`;
});
afterAll(async () => {
  await redis?.stop();
});

async function node(name: string, opts: Partial<ChatStreamOptions> = {}) {
  const conn = new RedisConnection(redis.url, { reconnectBaseMs: 20, reconnectMaxMs: 200, name });
  await conn.waitConnected();
  const stream = new ChatStream(conn, room, { history: 25, keys, ...opts });
  cleanup.push(async () => {
    stream.close();
    await conn.close();
  });
  return { conn, stream };
}

const author = (n: string) => ({ peerId: `peer-${n}`, name: `User ${n}`, role: 'viewer' as const });

/** What a viewer's page keeps: the list it shows, built only from what the node passes on. */
class ViewerModel {
  messages: ChatMessage[] = [];
  seqs: number[] = [];
  resyncs: ChatSync[] = [];
  errors: Error[] = [];
  epoch: string | undefined;

  readonly handler = (u: ChatStreamUpdate) => {
    if (u.type === 'resync') {
      this.resyncs.push(u.sync);
      this.messages = [...(u.sync.snapshot ?? [])];
      this.epoch = u.sync.epoch;
      return;
    }
    this.epoch = u.epoch;
    this.seqs.push(u.event.seq);
    apply(this.messages, u.event);
  };
}

function apply(messages: ChatMessage[], e: ChatEvent): void {
  if (e.type === 'message') messages.push(e.message);
  else if (e.type === 'delete') messages.splice(0, messages.length, ...messages.filter((m) => m.id !== e.id));
  else messages.splice(0);
}

async function follow(n: { stream: ChatStream }) {
  const viewer = new ViewerModel();
  const sub = n.stream.subscribe(viewer.handler, { onError: (e) => viewer.errors.push(e) });
  await sub.ready;
  return { viewer, sub };
}

describe('ChatStream', () => {
  it('orders 200 concurrent appends from two nodes into one gap-free sequence that both nodes see in the same order', async () => {
    const a = await node('a');
    const b = await node('b');
    const fa = await follow(a);
    const fb = await follow(b);
    // A third, raw subscriber counts what crosses Redis: one message per event, however many nodes.
    const raw = new Redis(redis.url);
    cleanup.push(() => void raw.disconnect());
    const crossing: string[] = [];
    raw.on('message', (_ch: string, m: string) => crossing.push(m));
    await raw.subscribe(keys.chat(room).channel);

    const sent = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).stream.append(author(String(i)), `line ${i}`)));
    const expected = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(sent.map((m) => m.seq).sort((x, y) => x - y)).toEqual(expected);
    expect(new Set(sent.map((m) => m.epoch)).size).toBe(1);

    await vi.waitFor(() => expect([fa.viewer.seqs.length, fb.viewer.seqs.length]).toEqual([200, 200]));
    expect(fa.viewer.seqs).toEqual(expected);
    expect(fb.viewer.seqs).toEqual(expected);
    expect(fa.viewer.messages.map((m) => m.id)).toEqual(fb.viewer.messages.map((m) => m.id));
    // What each node passes on is exactly what the appending node was told.
    const bySeq = new Map(sent.map(({ epoch: _e, ...m }) => [m.seq, m]));
    expect(fa.viewer.messages).toEqual(expected.map((s) => bySeq.get(s)));
    expect(fa.viewer.resyncs).toEqual([]);
    expect(fa.viewer.errors).toEqual([]);

    await vi.waitFor(() => expect(crossing).toHaveLength(200));
    expect(crossing.map((p) => (JSON.parse(p) as { event: ChatEvent }).event.seq)).toEqual(expected);

    // History is the last 25, in sequence order, and a fresh join from either node agrees.
    const [sa, sb] = await Promise.all([a.stream.sync(), b.stream.sync()]);
    expect(sa).toEqual(sb);
    expect(sa.snapshot?.map((m) => m.seq)).toEqual(expected.slice(-25));
    expect(sa.lastSeq).toBe(200);
    expect(await a.stream.size()).toBe(25);
    expect(await b.stream.lastSeq()).toBe(200);
  });

  it('gives a client that reconnects to another node exactly the events it missed', async () => {
    const a = await node('a');
    const b = await node('b');
    for (let i = 0; i < 5; i++) await a.stream.append(author('x'), `before ${i}`);
    const joined = await a.stream.sync();
    const page: ChatMessage[] = [...joined.snapshot!];

    const missed = [await b.stream.append(author('y'), 'missed 1'), await a.stream.append(author('z'), 'missed 2')];
    await b.stream.delete(page[1]!.id);
    await a.stream.append(author('y'), 'missed 3');

    const resumed = await b.stream.sync(joined.lastSeq, joined.epoch);
    expect(resumed).toMatchObject({ snapshot: null, gap: false, lastSeq: 9, epoch: joined.epoch });
    expect(resumed.events.map((e) => [e.seq, e.type])).toEqual([
      [6, 'message'],
      [7, 'message'],
      [8, 'delete'],
      [9, 'message'],
    ]);
    expect(resumed.events[0]).toEqual({ type: 'message', seq: 6, message: (({ epoch: _e, ...m }) => m)(missed[0]!) });
    for (const e of resumed.events) apply(page, e);
    expect(page).toEqual((await a.stream.sync()).snapshot);
    // Nothing missed: nothing sent.
    expect(await a.stream.sync(9, joined.epoch)).toMatchObject({ snapshot: null, events: [], gap: false });
  });

  it('puts deletes and clears in the same sequence, for every node', async () => {
    const a = await node('a');
    const b = await node('b');
    const fb = await follow(b);
    const m1 = await a.stream.append(author('1'), 'one');
    const m2 = await a.stream.append(author('2'), 'two');
    expect(await b.stream.delete(m1.id)).toEqual({ id: m1.id, seq: 3 });
    expect(await b.stream.delete(m1.id)).toBeUndefined(); // already gone: no event, no sequence number
    expect(await a.stream.delete('no-such-id')).toBeUndefined();
    expect(await a.stream.clear()).toEqual({ seq: 4 });
    const m3 = await b.stream.append(author('3'), 'three');
    expect(m3.seq).toBe(5);

    await vi.waitFor(() => expect(fb.viewer.seqs).toEqual([1, 2, 3, 4, 5]));
    expect(fb.viewer.messages.map((m) => m.text)).toEqual(['three']);
    const events = (await a.stream.sync(0, m3.epoch)).events;
    expect(events).toEqual([
      { type: 'message', seq: 1, message: (({ epoch: _e, ...m }) => m)(m1) },
      { type: 'message', seq: 2, message: (({ epoch: _e, ...m }) => m)(m2) },
      { type: 'delete', seq: 3, id: m1.id },
      { type: 'clear', seq: 4 },
      { type: 'message', seq: 5, message: (({ epoch: _e, ...m }) => m)(m3) },
    ]);
  });

  it('answers sync exactly as ChatLog does, including snapshots with a gap once events fall out of the journal', async () => {
    const history = 4;
    const journal = 10;
    const { stream } = await node('a', { history, journal });
    const log = new ChatLog(history, journal);
    // The same operations on both; ids differ, so messages are compared by their text.
    const logIds: string[] = [];
    const streamIds: string[] = [];
    const ops: (['append', string] | ['delete', number] | ['clear'])[] = [];
    for (let i = 0; i < 30; i++) {
      ops.push(['append', `m${i}`]);
      if (i % 7 === 3) ops.push(['delete', i - 1]);
      if (i === 12) ops.push(['delete', 0]); // long gone from history: refused by both
      if (i === 20) ops.push(['clear']);
    }
    for (const op of ops) {
      if (op[0] === 'append') {
        logIds.push(log.append(author('p'), op[1]).id);
        streamIds.push((await stream.append(author('p'), op[1])).id);
      } else if (op[0] === 'delete') {
        const l = log.delete(logIds[op[1]]!);
        const s = await stream.delete(streamIds[op[1]]!);
        expect(s?.seq).toBe(l?.seq);
      } else {
        expect((await stream.clear()).seq).toBe(log.clear().seq);
      }
    }
    const epoch = (await stream.sync()).epoch;
    const norm = (s: ChatSync) =>
      JSON.parse(
        JSON.stringify({ ...s, epoch: undefined }, (k, v: unknown) => (k === 'id' ? `#${[...logIds, ...streamIds].indexOf(v as string) % logIds.length}` : k === 'ts' ? 0 : v)),
      ) as unknown;
    expect(await stream.lastSeq()).toBe(log.lastSeq);
    for (const since of [undefined, ...Array.from({ length: log.lastSeq + 3 }, (_, i) => i)]) {
      expect(norm(await stream.sync(since, epoch)), `since ${since}`).toEqual(norm(log.sync(since, log.epoch)));
    }
    // A sequence from another epoch (another log, a restarted server) gets a snapshot, no gap.
    expect(norm(await stream.sync(3, 'another-epoch'))).toEqual(norm(log.sync(3, 'another-epoch')));
    expect(await stream.sync(3, 'another-epoch')).toMatchObject({ gap: false, epoch });
  });

  it('replays what a node missed while its pub/sub connection was cut, in order, without a resync', async () => {
    const a = await node('a');
    const b = await node('b');
    const fb = await follow(b);
    for (let i = 0; i < 5; i++) await a.stream.append(author('a'), `before ${i}`);
    await vi.waitFor(() => expect(fb.viewer.seqs).toHaveLength(5));
    // Cut every pub/sub connection (both nodes'); the command connections stay.
    await a.conn.client.client('KILL', 'TYPE', 'pubsub');
    for (let i = 0; i < 5; i++) await a.stream.append(author('a'), `during ${i}`);
    await vi.waitFor(() => expect(fb.viewer.seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    await a.stream.append(author('a'), 'after');
    await vi.waitFor(() => expect(fb.viewer.seqs).toHaveLength(11));
    expect(fb.viewer.seqs).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(fb.viewer.resyncs).toEqual([]);
    expect(fb.viewer.messages).toEqual((await b.stream.sync()).snapshot);
  });

  it('lets the chat of an idle room expire; it starts again under a new epoch', async () => {
    const a = await node('a', { idleTtlMs: 300 });
    const m = await a.stream.append(author('a'), 'hello');
    const k = keys.chat(room);
    expect(await a.conn.client.pttl(k.log)).toBeGreaterThan(0);
    await vi.waitFor(async () => expect(await a.conn.client.exists(k.meta, k.log, k.history)).toBe(0), { timeout: 10_000, interval: 50 });
    const s = await a.stream.sync(m.seq, m.epoch);
    expect(s).toMatchObject({ snapshot: [], gap: false, lastSeq: 0 });
    expect(s.epoch).not.toBe(m.epoch);
    expect((await a.stream.append(author('a'), 'again')).seq).toBe(1);
  });

  it('resyncs a node that missed more than the journal holds with one snapshot, then carries on', async () => {
    const a = await node('a', { journal: 3 });
    // node-b reconnects slowly: the appends below all happen while its pub/sub is down.
    const conn = new RedisConnection(redis.url, { reconnectBaseMs: 5000, reconnectMaxMs: 5000, name: 'b' });
    await conn.waitConnected();
    const b = { conn, stream: new ChatStream(conn, room, { history: 25, journal: 3, keys }) };
    cleanup.push(async () => {
      b.stream.close();
      await conn.close();
    });
    const fb = await follow(b);
    await a.stream.append(author('a'), 'seen');
    await vi.waitFor(() => expect(fb.viewer.seqs).toEqual([1]));
    await a.conn.client.client('KILL', 'TYPE', 'pubsub');
    for (let i = 0; i < 10; i++) await a.stream.append(author('a'), `missed ${i}`);
    await vi.waitFor(() => expect(fb.viewer.resyncs).toHaveLength(1), { timeout: 20_000, interval: 50 });
    expect(fb.viewer.resyncs[0]).toMatchObject({ gap: true, lastSeq: 11 });
    expect(fb.viewer.messages.map((m) => m.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    await a.stream.append(author('a'), 'after');
    await vi.waitFor(() => expect(fb.viewer.seqs).toEqual([1, 12]));
    expect(fb.viewer.messages).toEqual((await a.stream.sync()).snapshot);
  });

  it('survives Redis restarting mid-chat: degraded and back, appends work again, nodes resync to the new epoch', async () => {
    const a = await node('a');
    const b = await node('b');
    const fa = await follow(a);
    const fb = await follow(b);
    const health: string[] = [];
    a.conn.on('degraded', () => health.push('degraded'));
    a.conn.on('connected', () => health.push('connected'));
    for (let i = 0; i < 5; i++) await (i % 2 ? a : b).stream.append(author(String(i)), `before ${i}`);
    await vi.waitFor(() => expect([fa.viewer.seqs.length, fb.viewer.seqs.length]).toEqual([5, 5]));
    const oldEpoch = fa.viewer.epoch;

    await redis.stop();
    try {
      await vi.waitFor(() => expect(a.conn.state).toBe('degraded'));
      // Fails fast while Redis is away; nothing queues up to replay later.
      await expect(a.stream.append(author('x'), 'lost')).rejects.toThrow();
      await expect(b.stream.sync()).rejects.toThrow();
    } finally {
      await redis.start();
    }
    await Promise.all([a.conn.waitConnected(15_000), b.conn.waitConnected(15_000)]);
    expect(health).toEqual(['degraded', 'connected']);

    // Redis came back empty (no persistence): a new epoch, the sequence starts again.
    const m = await b.stream.append(author('y'), 'after restart');
    expect(m.seq).toBe(1);
    expect(m.epoch).not.toBe(oldEpoch);
    const m2 = await a.stream.append(author('z'), 'and again');
    expect(m2.seq).toBe(2);

    for (const f of [fa, fb]) {
      await vi.waitFor(() => expect(f.viewer.messages.map((x) => x.text)).toEqual(['after restart', 'and again']));
      expect(f.viewer.epoch).toBe(m.epoch);
      // The old epoch's list was replaced, never merged into the new one.
      expect(f.viewer.resyncs.length).toBeGreaterThanOrEqual(1);
      expect(f.viewer.resyncs.every((s) => s.epoch === m.epoch && s.snapshot !== null)).toBe(true);
    }
    // A client still holding the old epoch's sequence gets a snapshot of the new one.
    expect(await a.stream.sync(5, oldEpoch)).toMatchObject({ gap: false, epoch: m.epoch, lastSeq: 2 });
  });
});
