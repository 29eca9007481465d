import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { errorCodes, requestSchemas, type Method } from '../../src/protocol/messages.js';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { ResponseTally } from '../helpers/responseTally.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';
import { vp8 } from '../helpers/rtpParameters.js';

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
      // A broadcaster in the room: a viewer may then create its receive transport.
      const host = await TestClient.connect(url(`room=bad&token=${await tokenFor('publisher', 'bad', 'Host')}`));
      await host.request('join', {});
      const t = await c.request('createTransport', { direction: 'recv' });
      expect(await errorCode(c.request('connectTransport', { transportId: t.transportId, dtlsParameters: { fingerprints: [{ algorithm: 'md0', value: 'x' }] } }))).toBe('bad-request');
      c.close();
      host.close();
    });

    it('closes a socket that sends an oversized frame (uWS limit), others stay', async () => {
      const big = await TestClient.connect(url('room=big'));
      const other = await TestClient.connect(url(`room=big&token=${await tokenFor('publisher', 'big', 'Other')}`));
      await other.request('join', {});
      big.raw('x'.repeat(200 * 1024));
      const { code } = await big.closed;
      expect(code).toBe(1006);
      expect((await other.request('createTransport', { direction: 'send' })).transportId).toBeTruthy();
      other.close();
    });

    it('rate-limits requests per connection: the burst passes, the excess gets rate-limited, each frame is answered once', async () => {
      // This node keeps the default limiter: 50 requests/s per connection, burst 200.
      const c = await TestClient.connect(url('room=limit'));
      const tally = new ResponseTally(c.ws);
      const N = 600;
      const t0 = performance.now();
      for (let i = 0; i < N; i++) c.raw(JSON.stringify({ type: 'request', id: i, method: 'leave', data: {} }));
      await tally.waitForTotal(N, 20_000);
      const seconds = (performance.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 200));
      expect(tally.total).toBe(N);
      expect(tally.garbage).toEqual([]);
      const { ok = 0, 'rate-limited': limited = 0, ...other } = tally.byCode();
      expect(other).toEqual({});
      expect(ok + limited).toBe(N);
      // Every answer carries its request's id, refused ones too (read from the frame's first
      // bytes), so a client never waits out its timeout: each id is answered exactly once.
      for (let i = 0; i < N; i++) expect(tally.forId(i), `request ${i}`).toHaveLength(1);
      // The bucket starts full: the first 200 requests are all served.
      for (let i = 0; i < 200; i++) expect(tally.forId(i), `request ${i}`).toEqual(['ok']);
      // Past the burst only the refill (50/s over the time the server took) gets through.
      expect(ok).toBeLessThanOrEqual(200 + Math.ceil(50 * seconds) + 1);
      expect(limited).toBeGreaterThan(0);
      c.close();
    });

    describe('fuzzing, with the request limiter out of the way', () => {
      // At the default 50 requests/s (burst 200) all but ~200 of the fuzz frames would be
      // answered `rate-limited` before the parser saw them: this node lets every frame through.
      let fuzzNode: Fourcast;
      beforeAll(async () => {
        fuzzNode = await startTestNode({ MEDIASOUP_WORKERS: '1', WS_REQUESTS_PER_SECOND: '100000' });
      });
      afterAll(async () => fuzzNode?.close());

      /** fourcast_protocol_errors_total by code, from the node's own registry. */
      const protocolErrors = async (): Promise<Record<string, number>> => {
        const text = await fuzzNode.metrics.text();
        return Object.fromEntries([...text.matchAll(/^fourcast_protocol_errors_total\{code="([^"]+)"\} (\S+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
      };

      it('answers each of thousands of random and out-of-order frames from several sockets exactly once (malformed: a typed error); a neighbour is unaffected', async () => {
        const fuzzUrl = (q: string) => `${fuzzNode.urls.ws}?${q}`;
        const victimToken = await fuzzNode.tokens.mint({ role: 'publisher', room: 'fuzz', name: 'Victim', ttlSeconds: 600 });
        const victim = await TestClient.connect(fuzzUrl(`room=fuzz&token=${victimToken}`));
        await victim.request('join', {});
        const vt = await victim.request('createTransport', { direction: 'send' });
        const produced = await victim.request('produce', { transportId: vt.transportId, kind: 'video', rtpParameters: vp8(4242), source: 'camera' });
        const watcher = await TestClient.connect(fuzzUrl('room=fuzz'));
        await watcher.request('join', {});

        const FUZZERS = 4;
        const FRAMES = 4000;
        const fuzzers = await Promise.all(Array.from({ length: FUZZERS }, () => TestClient.connect(fuzzUrl('room=fuzz'))));
        const tallies = fuzzers.map((f) => new ResponseTally(f.ws));

        const methods = ['join', 'leave', 'createTransport', 'connectTransport', 'produce', 'consume', 'resumeConsumer', 'setPreferredLayers', 'restartIce', 'closeProducer', 'requestKeyFrame', 'setRtpCapabilities', 'x'];
        const junk = [null, 0, -1, 2 ** 60, 'x'.repeat(300), [], {}, { transportId: 'a' }, { producerId: produced.producerId }, { direction: 'recv' }, { rtpCapabilities: { codecs: [{}] } }, true];
        let seed = 42;
        // An LCG's low bits repeat with a short period (so would `% n`): pick from the high bits.
        const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x80000000) * n);
        /** What each frame must be answered with: a bad-request without id, or one answer carrying its id. */
        type Expected = { fuzzer: number; id: number | null; answer: 'bad-request' | 'unknown-method' | 'any-typed' };
        const expected: Expected[] = [];
        const errorsBefore = await protocolErrors();
        for (let i = 0; i < FRAMES; i++) {
          const fuzzer = rnd(FUZZERS);
          const kind = rnd(6);
          if (kind === 0) {
            fuzzers[fuzzer]!.raw(Buffer.from(Array.from({ length: rnd(64) }, () => rnd(256))).toString('latin1'));
            expected.push({ fuzzer, id: null, answer: 'bad-request' });
          } else if (kind === 1) {
            fuzzers[fuzzer]!.raw(Buffer.from(Array.from({ length: 1 + rnd(64) }, () => rnd(256))));
            expected.push({ fuzzer, id: null, answer: 'bad-request' });
          } else if (kind === 2) {
            fuzzers[fuzzer]!.raw(JSON.stringify(junk[rnd(junk.length)]));
            expected.push({ fuzzer, id: null, answer: 'bad-request' });
          } else {
            const type = rnd(4) ? 'request' : 'response';
            const numericId = rnd(10) > 0;
            const method = methods[rnd(methods.length)]!;
            const data = junk[rnd(junk.length)];
            fuzzers[fuzzer]!.raw(JSON.stringify({ type, id: numericId ? i : 'x', method, data }));
            if (type !== 'request' || !numericId) expected.push({ fuzzer, id: null, answer: 'bad-request' });
            else if (!Object.hasOwn(requestSchemas, method)) expected.push({ fuzzer, id: i, answer: 'unknown-method' });
            else {
              // A null payload counts as none (the envelope's data is optional).
              const valid = requestSchemas[method as Method].safeParse(data ?? {}).success;
              expected.push({ fuzzer, id: i, answer: valid ? 'any-typed' : 'bad-request' });
            }
          }
          if (i % 500 === 0) await new Promise((r) => setTimeout(r, 5));
        }

        for (const [f, tally] of tallies.entries()) await tally.waitForTotal(expected.filter((e) => e.fuzzer === f).length, 30_000);
        // Exactly once: nothing more trickles in.
        await new Promise((r) => setTimeout(r, 300));
        const errorsAfter = await protocolErrors();

        const byCode: Record<string, number> = {};
        for (const [f, tally] of tallies.entries()) {
          const mine = expected.filter((e) => e.fuzzer === f);
          expect(tally.closed, `fuzzer ${f} was disconnected`).toBeUndefined();
          expect(tally.garbage).toEqual([]);
          expect(tally.total, `fuzzer ${f}: responses vs frames sent`).toBe(mine.length);
          // Frames without a usable id: each answered by one bad-request without id.
          const anonymous = tally.responses.filter((r) => r.id === null);
          expect(anonymous).toHaveLength(mine.filter((e) => e.id === null).length);
          expect(new Set(anonymous.map((r) => r.code))).toEqual(new Set(['bad-request']));
          for (const e of mine) {
            if (e.id === null) continue;
            const got = tally.forId(e.id);
            expect(got, `fuzzer ${f}, frame ${e.id}`).toHaveLength(1);
            if (e.answer === 'any-typed') expect(['ok', ...errorCodes.filter((c) => c !== 'internal' && c !== 'rate-limited')], `frame ${e.id}`).toContain(got[0]);
            else expect(got[0], `frame ${e.id}`).toBe(e.answer);
          }
          for (const [code, n] of Object.entries(tally.byCode())) byCode[code] = (byCode[code] ?? 0) + n;
        }
        console.log(`fuzz: ${FRAMES} frames over ${FUZZERS} sockets, answers by code: ${JSON.stringify(byCode)}`);
        expect(byCode['rate-limited'] ?? 0).toBe(0);
        expect(byCode.internal ?? 0).toBe(0);
        expect(Object.values(byCode).reduce((a, b) => a + b, 0)).toBe(FRAMES);
        // The frames reached every layer: the parser, the method table and the room handlers.
        expect(byCode['bad-request']).toBeGreaterThan(0);
        expect(byCode['unknown-method']).toBeGreaterThan(0);
        expect(byCode.ok).toBeGreaterThan(0);
        // The node counted the same error answers.
        for (const code of errorCodes) expect((errorsAfter[code] ?? 0) - (errorsBefore[code] ?? 0), `fourcast_protocol_errors_total{code="${code}"}`).toBe(byCode[code] ?? 0);

        // The fuzzers only ever hurt themselves.
        const t = await watcher.request('createTransport', { direction: 'recv' });
        expect(t.transportId).toBeTruthy();
        expect(await errorCode(watcher.request('join', {}))).toBe('already-joined');
        const victimView = await TestClient.connect(fuzzUrl('room=fuzz'));
        const joined = await victimView.request('join', {});
        expect(joined.publishers.map((p) => p.name)).toEqual(['Victim']);
        expect(joined.publishers[0]!.producers.map((p) => p.producerId)).toEqual([produced.producerId]);
        expect(victim.orphanErrors).toEqual([]);
        expect(watcher.orphanErrors).toEqual([]);
        for (const c of [victim, watcher, ...fuzzers, victimView]) c.close();
      });
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
