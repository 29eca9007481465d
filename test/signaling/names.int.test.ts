import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';

describe('names and chat text must show something (real node)', () => {
  let node: Fourcast;
  const url = (q: string) => `${node.urls.ws}?${q}`;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => node?.close());

  it('refuses a name of fillers and separators, and keeps the socket usable', async () => {
    const c = await TestClient.connect(url('room=names'));
    for (const name of ['\u3164', '\u3164\u3164 ', '\u2028', '\u0301\u0301']) expect(await errorCode(c.request('join', { name })), JSON.stringify(name)).toBe('bad-request');
    const joined = await c.request('join', { name: `Z${'\u0336'.repeat(20)}oe` });
    expect(joined.name).toBe('Z\u0336\u0336\u0336oe');
    expect(await errorCode(c.request('chatSend', { text: '\u3164\u2028\u2029\u3164' }))).toBe('bad-request');
    expect(await errorCode(c.request('chatSend', { text: 'hello\u2028world' }))).toBe('ok');
    c.close();
  });

  it('an anonymous viewer cannot take the name of a broadcaster of that room', async () => {
    const host = await TestClient.connect(url(`room=names2&token=${await node.tokens.mint({ role: 'publisher', room: 'names2', name: 'Alice', ttlSeconds: 600 })}`));
    await host.request('join', {});
    const v = await TestClient.connect(url('room=names2'));
    const joined = await v.request('join', { name: 'alice' });
    expect(joined.name).not.toBe('alice');
    for (const c of [host, v]) c.close();
  });
});
