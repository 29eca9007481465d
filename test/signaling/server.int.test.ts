import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';

const vp8 = (ssrc: number) => ({
  mid: '0',
  codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, rtcpFeedback: [] }],
  encodings: [{ ssrc }],
  headerExtensions: [],
  rtcp: { cname: `c${ssrc}` },
});

describe('signaling over real uWS sockets', () => {
  let node: Fourcast;
  const url = (q: string) => `${node.urls.ws}?${q}`;
  const tokenFor = (role: 'publisher' | 'viewer' | 'admin', room: string, name: string = role) => node.tokens.mint({ role, room, name, ttlSeconds: 600 });

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1' });
  });
  afterAll(async () => node?.close());

  describe('upgrade', () => {
    const refused = (p: Promise<unknown>) => p.then(() => ({ status: 101, body: {} }), (e: { status: number; body: { error: string } }) => e);

    it('refuses a forged token with 401', async () => {
      const forged = await new SignJWT({ role: 'publisher', room: 'a', name: 'Mallory' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('fourcast')
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode('not-the-server-secret-not-the-server-secret'));
      const r = await refused(TestClient.connect(url(`room=a&token=${forged}`)));
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ error: 'token-invalid' });
    });

    it('refuses an expired token with 401 token-expired', async () => {
      const expired = await new SignJWT({ role: 'publisher', room: 'a', name: 'Late' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('fourcast')
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(new TextEncoder().encode('test-secret-test-secret-test-secret-0123'));
      const r = await refused(TestClient.connect(url(`room=a&token=${expired}`)));
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ error: 'token-expired' });
    });

    it('refuses a token used for another room with 403', async () => {
      const r = await refused(TestClient.connect(url(`room=b&token=${await tokenFor('publisher', 'a')}`)));
      expect(r.status).toBe(403);
    });

    it('refuses garbage and a bad room name', async () => {
      expect((await refused(TestClient.connect(url('room=a&token=abc.def.ghi')))).status).toBe(401);
      expect((await refused(TestClient.connect(url('room=../etc')))).status).toBe(400);
      expect((await refused(TestClient.connect(url('')))).status).toBe(400);
    });

    it('lets an anonymous viewer in when the node allows it', async () => {
      const c = await TestClient.connect(url('room=open'));
      const joined = await c.request('join', { name: 'Anon' });
      expect(joined).toMatchObject({ role: 'viewer', room: 'open', name: 'Anon', canPublish: false, maxPublishers: 4 });
      c.close();
    });
  });

  describe('access rules', () => {
    it('a viewer token cannot create a send transport nor produce', async () => {
      const c = await TestClient.connect(url(`room=rules&token=${await tokenFor('viewer', 'rules')}`));
      await c.request('join', {});
      expect(await errorCode(c.request('createTransport', { direction: 'send' }))).toBe('forbidden');
      expect(await errorCode(c.request('produce', { transportId: 'x', kind: 'video', rtpParameters: vp8(1), source: 'camera' }))).toBe('forbidden');
      c.close();
    });

    it('a fifth publisher is refused with stage-full, and a freed slot can be taken', async () => {
      const clients: TestClient[] = [];
      const results: string[] = [];
      for (let i = 0; i < 5; i++) {
        const c = await TestClient.connect(url(`room=full&token=${await tokenFor('publisher', 'full', `P${i}`)}`));
        clients.push(c);
        await c.request('join', {});
        const t = await c.request('createTransport', { direction: 'send' });
        results.push(await errorCode(c.request('produce', { transportId: t.transportId, kind: 'video', rtpParameters: vp8(1000 + i), source: 'camera' })));
      }
      expect(results).toEqual(['ok', 'ok', 'ok', 'ok', 'stage-full']);
      const viewer = await TestClient.connect(url('room=full'));
      const joined = await viewer.request('join', {});
      expect(joined.publishers).toHaveLength(4);

      clients[0]!.close();
      await viewer.waitFor('publisherLeft');
      const t = await clients[4]!.request('createTransport', { direction: 'send' });
      await clients[4]!.request('produce', { transportId: t.transportId, kind: 'video', rtpParameters: vp8(2000), source: 'camera' });
      await viewer.waitFor('publisherJoined', (d) => d.name === 'P4');
      for (const c of [...clients, viewer]) c.close();
    });
  });

  describe('malformed input gets a typed error and harms nobody', () => {
    it('answers each kind of bad frame with its code', async () => {
      const c = await TestClient.connect(url('room=bad'));
      const next = async (send: () => void) => {
        const before = c.orphanErrors.length;
        send();
        for (let i = 0; i < 100 && c.orphanErrors.length === before; i++) await new Promise((r) => setTimeout(r, 10));
        return c.orphanErrors[before]?.code;
      };
      expect(await next(() => c.raw('{not json'))).toBe('bad-request');
      expect(await next(() => c.raw(Buffer.from([1, 2, 3])))).toBe('bad-request');
      expect(await next(() => c.raw(JSON.stringify({ type: 'request', id: -1, method: 'join' })))).toBe('bad-request');
      expect(await errorCode(c.request('nope' as 'join', {}))).toBe('unknown-method');
      expect(await errorCode(c.request('createTransport', { direction: 'sideways' as 'send' }))).toBe('bad-request');
      expect(await errorCode(c.request('consume', { producerId: 'x' }))).toBe('not-joined');
      await c.request('join', {});
      expect(await errorCode(c.request('join', {}))).toBe('already-joined');
      expect(await errorCode(c.request('consume', { producerId: 'x' }))).toBe('invalid-state');
      expect(await errorCode(c.request('connectTransport', { transportId: 'nope', dtlsParameters: { fingerprints: [{ algorithm: 'sha-256', value: 'AA' }] } }))).toBe('not-found');
      const t = await c.request('createTransport', { direction: 'recv' });
      expect(await errorCode(c.request('connectTransport', { transportId: t.transportId, dtlsParameters: { fingerprints: [{ algorithm: 'md0', value: 'x' }] } }))).toBe('bad-request');
      c.close();
    });

    it('closes a socket that sends an oversized frame (uWS limit), others stay', async () => {
      const big = await TestClient.connect(url('room=big'));
      const other = await TestClient.connect(url('room=big'));
      await other.request('join', {});
      big.raw('x'.repeat(200 * 1024));
      const { code } = await big.closed;
      expect(code).toBe(1006);
      expect((await other.request('createTransport', { direction: 'recv' })).transportId).toBeTruthy();
      other.close();
    });

    it('survives thousands of random and out-of-order frames; a neighbour is unaffected', async () => {
      const victim = await TestClient.connect(url(`room=fuzz&token=${await tokenFor('publisher', 'fuzz', 'Victim')}`));
      await victim.request('join', {});
      const vt = await victim.request('createTransport', { direction: 'send' });
      const produced = await victim.request('produce', { transportId: vt.transportId, kind: 'video', rtpParameters: vp8(4242), source: 'camera' });
      const watcher = await TestClient.connect(url('room=fuzz'));
      await watcher.request('join', {});
      const fuzzer = await TestClient.connect(url('room=fuzz'));

      const methods = ['join', 'leave', 'createTransport', 'connectTransport', 'produce', 'consume', 'resumeConsumer', 'setPreferredLayers', 'restartIce', 'closeProducer', 'requestKeyFrame', 'setRtpCapabilities', 'x'];
      const junk = [null, 0, -1, 2 ** 60, 'x'.repeat(300), [], {}, { transportId: 'a' }, { producerId: produced.producerId }, { direction: 'recv' }, { rtpCapabilities: { codecs: [{}] } }, true];
      let seed = 42;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
      for (let i = 0; i < 3000; i++) {
        const kind = rnd(5);
        if (kind === 0) fuzzer.raw(Buffer.from(Array.from({ length: rnd(64) }, () => rnd(256))).toString('latin1'));
        else if (kind === 1) fuzzer.raw(JSON.stringify(junk[rnd(junk.length)]));
        else fuzzer.raw(JSON.stringify({ type: rnd(4) ? 'request' : 'response', id: rnd(10) ? i : 'x', method: methods[rnd(methods.length)], data: junk[rnd(junk.length)] }));
        if (i % 500 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      // The fuzzer only ever hurt itself: it may have been rate-limited, never crashed anything.
      const t = await watcher.request('createTransport', { direction: 'recv' });
      expect(t.transportId).toBeTruthy();
      const again = await watcher.request('join', {}).catch((e: { code: string }) => e.code);
      expect(again).toBe('already-joined');
      const victimView = await TestClient.connect(url('room=fuzz'));
      const joined = await victimView.request('join', {});
      expect(joined.publishers.map((p) => p.name)).toEqual(['Victim']);
      expect(joined.publishers[0]!.producers.map((p) => p.producerId)).toEqual([produced.producerId]);
      for (const c of [victim, watcher, fuzzer, victimView]) c.close();
    });
  });

  it('pushes viewer counts at a bounded rate', async () => {
    const first = await TestClient.connect(url('room=count'));
    await first.request('join', {});
    const others: TestClient[] = [];
    for (let i = 0; i < 8; i++) {
      const c = await TestClient.connect(url('room=count'));
      await c.request('join', {});
      others.push(c);
    }
    await first.waitFor('viewerCount', (d) => d.count === 9, 5000);
    const counts = first.notifications.filter((n) => n.method === 'viewerCount');
    // 8 joins within well under a second: at most the immediate push plus the trailing one.
    expect(counts.length).toBeLessThanOrEqual(3);
    for (const c of [first, ...others]) c.close();
  });
});
