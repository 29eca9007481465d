import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';

/** GET with a Host header of our choosing (fetch does not let a caller set it). */
function getWithHost(base: string, path: string, host: string): Promise<{ status: number; body: { wsUrl?: string; error?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { headers: { host } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { wsUrl?: string } }));
    });
    req.on('error', reject);
  });
}

describe('GET /api/client-config and the Host header (real node)', () => {
  let plain: Fourcast;
  let pinned: Fourcast;
  beforeAll(async () => {
    plain = await startTestNode();
    pinned = await startTestNode({ PUBLIC_URL: 'https://stage.example.org' });
  });
  afterAll(async () => {
    await plain?.close();
    await pinned?.close();
  });

  it('without PUBLIC_URL follows a valid Host, and refuses one that is no host name', async () => {
    const ok = await getWithHost(plain.urls.http, '/api/client-config', 'stage.local:8080');
    expect(ok.status).toBe(200);
    expect(ok.body.wsUrl).toBe(`ws://stage.local:${plain.ports.ws}/ws`);
    for (const host of ['evil.example/x?', 'a b', 'x"><script>', '[zz::1]']) {
      const bad = await getWithHost(plain.urls.http, '/api/client-config', host);
      expect(bad.status, host).toBe(400);
      expect(bad.body.error).toBe('bad-request');
    }
  });

  it('with PUBLIC_URL never echoes the request’s Host into wsUrl', async () => {
    const res = await getWithHost(`http://127.0.0.1:${pinned.ports.http}`, '/api/client-config', 'evil.example');
    expect(res.status).toBe(200);
    expect(res.body.wsUrl).not.toContain('evil');
    expect(res.body.wsUrl).toBe(`wss://stage.example.org:${pinned.ports.ws}/ws`);
  });
});
