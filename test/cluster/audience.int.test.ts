import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatSync } from '../../src/protocol/messages.js';
import type { Fourcast } from '../../src/server.js';
import { poll } from '../helpers/pages.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

// Every client here is 127.0.0.1: the chat budgets are raised so the test measures delivery.
const ENV = { CHAT_RATE_PER_SECOND: '1000', CHAT_BURST: '1000', CHAT_ADDRESS_RATE_PER_SECOND: '10000', CHAT_ADDRESS_BURST: '10000', PARTICIPANT_LIST_MAX: '0' };
const VIEWERS = 200;
const SENDERS = 10;
const LINES = 6;

// The scenario of loadtest/ws-viewers.js against two nodes (`npm run loadtest:cluster`), run by
// Node clients so it runs where k6 is not installed: an audience spread over two nodes of one
// Redis, senders on both, and every viewer gets every line once, in the room's one sequence,
// with nothing left undelivered at the end.
describe('an audience spread over two nodes (real Redis)', () => {
  let redis: TestRedis;
  const nodes: Fourcast[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) nodes.push(await startTestNode({ ...ENV, REDIS_URL: redis.url }));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const n of nodes) await n.close();
    await redis?.stop();
  });

  it('every viewer on either node gets every chat line once, in one order', async () => {
    const joined: { client: TestClient; node: number; from: number }[] = [];
    // Viewers join in waves, alternating between the nodes (viewer i on node i mod 2).
    for (let wave = 0; wave < VIEWERS; wave += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const i = wave + j;
          const client = await TestClient.connect(`${nodes[i % 2]!.urls.ws}?room=audience`);
          clients.push(client);
          const info = await client.request('join', { name: `Viewer ${i}` });
          joined[i] = { client, node: i % 2, from: info.chat.lastSeq };
        }),
      );
    }
    // The count each viewer sees adds up both nodes.
    const lastCount = (c: TestClient) => (c.notifications.filter((n) => n.method === 'viewerCount').at(-1)?.data as { count: number } | undefined)?.count;
    await poll(async () => joined.map((j) => lastCount(j.client)), (counts) => counts.every((c) => c === VIEWERS), 10_000, `every viewer to see ${VIEWERS} viewers`);

    // Senders on both nodes (every 20th viewer), lines interleaved in time.
    const senders = joined.filter((_, i) => i % (VIEWERS / SENDERS) === 0 || i % (VIEWERS / SENDERS) === 1).slice(0, SENDERS);
    expect(new Set(senders.map((s) => s.node)).size).toBe(2);
    const sent: string[] = [];
    for (let line = 0; line < LINES; line++) {
      await Promise.all(
        senders.map(async (s, k) => {
          const text = `line ${line} from sender ${k}`;
          sent.push(text);
          await s.client.request('chatSend', { text });
        }),
      );
    }
    const total = SENDERS * LINES;

    const lines = (c: TestClient) => c.notifications.filter((n) => n.method === 'chatMessage').map((n) => n.data as { seq: number; text: string });
    await poll(
      async () => joined.filter((j) => lines(j.client).length < total).map((j) => j.node),
      (short) => short.length === 0,
      15_000,
      'every viewer to get every line (the nodes of those still short)',
    );

    const reference = lines(joined[0]!.client);
    expect(reference.map((l) => l.text).sort()).toEqual([...sent].sort());
    for (const [i, j] of joined.entries()) {
      const got = lines(j.client);
      // Exactly once each, gap-free from the sequence its join reported, the same order everywhere.
      expect(got.map((l) => l.seq), `viewer ${i} on node ${j.node}`).toEqual(Array.from({ length: total }, (_, k) => j.from + 1 + k));
      expect(got.map((l) => l.text), `viewer ${i}`).toEqual(reference.map((l) => l.text));
      // Nothing left undelivered: the node has no line past the last one the viewer got.
      const sync = (await j.client.request('chatSync', { since: got.at(-1)!.seq })) as ChatSync;
      expect(sync.events.filter((e) => e.type === 'message')).toEqual([]);
    }
    // Each node delivered every line once to each of its own viewers, and nothing more.
    const out = await Promise.all(nodes.map(async (n) => (await fetch(`${n.urls.http}/metrics`).then((r) => r.text())).match(/^fourcast_chat_messages_total\{direction="out"[^}]*\} (\d+)/m)?.[1]));
    expect(out.map(Number)).toEqual([(total * VIEWERS) / 2, (total * VIEWERS) / 2]);
  }, 90_000);
});
