import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

describe('reportFirstFrame (real node)', () => {
  let node: Fourcast;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => node?.close());

  const count = async () => {
    const text = await (await fetch(`${node.urls.http}/metrics`)).text();
    return Number(/^fourcast_join_to_first_frame_seconds_count (\S+)$/m.exec(text)?.[1]);
  };

  it('counts once per participant, however often a client reports', async () => {
    const before = await count();
    const c = await TestClient.connect(`${node.urls.ws}?room=ff`);
    await c.request('join', {});
    for (let i = 0; i < 20; i++) await c.request('reportFirstFrame', { milliseconds: 100 + i });
    expect(await count()).toBe(before + 1);
    // A new join is a new participant: one more.
    await c.request('leave', {});
    await c.request('join', {});
    await c.request('reportFirstFrame', { milliseconds: 300 });
    await c.request('reportFirstFrame', { milliseconds: 300 });
    expect(await count()).toBe(before + 2);
    c.close();
  });
});
