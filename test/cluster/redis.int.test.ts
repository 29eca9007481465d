import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisConnection, RedisUnavailableError, type RedisHealthState } from '../../src/cluster/redis.js';
import { freePortRange } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

// A real redis-server of the test's own (never 127.0.0.1:6379), stopped and started under
// live connections.

let redis: TestRedis;
const open: RedisConnection[] = [];
const connect = (url = redis.url, opts: ConstructorParameters<typeof RedisConnection>[1] = {}) => {
  const c = new RedisConnection(url, { reconnectBaseMs: 20, reconnectMaxMs: 200, ...opts });
  open.push(c);
  return c;
};

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await redis?.stop();
});

/** Records state changes as events report them. */
function track(c: RedisConnection): RedisHealthState[] {
  const seen: RedisHealthState[] = [];
  c.on('connected', () => seen.push('connected'));
  c.on('degraded', () => seen.push('degraded'));
  return seen;
}

describe('RedisConnection', () => {
  it('connects from a URL and reports connected', async () => {
    const c = connect();
    expect(c.state).toBe('connecting');
    await c.waitConnected();
    expect(c.health()).toMatchObject({ state: 'connected', url: redis.url });
    expect(await c.client.ping()).toBe('PONG');
  });

  it('selects the database of the URL', async () => {
    const c = connect(redis.url.replace(/\/0$/, '/5'));
    await c.waitConnected();
    await c.client.set('fourcast-test-db', 'x');
    const other = connect();
    await other.waitConnected();
    expect(await other.client.get('fourcast-test-db')).toBeNull();
    expect(await c.client.get('fourcast-test-db')).toBe('x');
  });

  it('goes degraded when Redis stops, fails commands at once instead of queueing them, and comes back with Redis', async () => {
    const c = connect();
    await c.waitConnected();
    const seen = track(c);
    const messages: string[] = [];
    let subscribed = 0;
    c.subscribe('fourcast-test-ch', { message: (m) => messages.push(m), subscribed: () => subscribed++ });
    await vi.waitFor(() => expect(subscribed).toBe(1));

    await redis.stop();
    try {
      await vi.waitFor(() => expect(c.state).toBe('degraded'));
      expect(seen).toEqual(['degraded']);
      expect(c.health().lastError).toBeTruthy();
      // No offline queue: the command is refused, it does not wait for Redis to return.
      await expect(c.client.set('k', 'v')).rejects.toThrow(/enableOfflineQueue|closed|writeable/i);
    } finally {
      await redis.start();
    }
    await c.waitConnected(15_000);
    expect(seen).toEqual(['degraded', 'connected']);
    expect(await c.client.set('k', 'v')).toBe('OK');
    // The channel is subscribed again (and the listener told, so it can catch up).
    await vi.waitFor(() => expect(subscribed).toBe(2));
    await c.publish('fourcast-test-ch', 'after restart');
    await vi.waitFor(() => expect(messages).toEqual(['after restart']));
  });

  it('fails a command Redis does not answer after commandTimeoutMs (Redis stuck, not gone)', async () => {
    const c = connect(redis.url, { commandTimeoutMs: 300 });
    await c.waitConnected();
    const pid = redis.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      await expect(c.client.get('k')).rejects.toThrow(/timed out/i);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await vi.waitFor(async () => expect(await c.client.ping()).toBe('PONG'));
  });

  it('reports degraded and a useful error when nothing listens at the URL, and keeps trying', async () => {
    const port = await freePortRange(1);
    const c = connect(`redis://127.0.0.1:${port}/0`);
    const err = await c.waitConnected(500).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisUnavailableError);
    expect((err as Error).message).toMatch(/not reachable.*is redis-server running/);
    expect(c.state).toBe('degraded');
    await expect(c.client.get('k')).rejects.toThrow();
  });

  it('delivers to every listener of a channel and unsubscribes after the last leaves', async () => {
    const c = connect();
    await c.waitConnected();
    const a: string[] = [];
    const b: string[] = [];
    let ready = 0;
    const offA = c.subscribe('fourcast-test-fan', { message: (m) => a.push(m), subscribed: () => ready++ });
    const offB = c.subscribe('fourcast-test-fan', { message: (m) => b.push(m), subscribed: () => ready++ });
    await vi.waitFor(() => expect(ready).toBe(2));
    // One Redis subscriber for the node, however many listeners it has.
    expect(await c.publish('fourcast-test-fan', 'one')).toBe(1);
    await vi.waitFor(() => expect([a, b]).toEqual([['one'], ['one']]));
    offA();
    await c.publish('fourcast-test-fan', 'two');
    await vi.waitFor(() => expect(b).toEqual(['one', 'two']));
    expect(a).toEqual(['one']);
    offB();
    await vi.waitFor(async () => expect(await c.publish('fourcast-test-fan', 'three')).toBe(0));
  });

  it('closes idempotently; a closed connection refuses to wait', async () => {
    const c = connect();
    await c.waitConnected();
    const closed = vi.fn();
    c.on('closed', closed);
    await c.close();
    await c.close();
    expect(closed).toHaveBeenCalledTimes(1);
    expect(c.state).toBe('closed');
    await expect(c.waitConnected()).rejects.toThrow(RedisUnavailableError);
  });
});
