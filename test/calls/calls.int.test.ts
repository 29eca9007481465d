import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { clientPool, errorCode, type TestClient } from '../helpers/wsClient.js';
import { opus, vp8 } from '../helpers/rtpParameters.js';
import { poll } from '../helpers/pages.js';

// Private calls over real sockets and a real worker: ringing, answering, busy, every way a
// call ends (for both sides, once, with a reason), and a call's media out of everyone else's reach.
describe('private calls', () => {
  let node: Fourcast;
  const pool = clientPool(() => node.urls.ws);
  let n = 0;
  const person = async (room: string, name = `P${++n}`, role: 'viewer' | 'publisher' = 'viewer') => {
    const c = role === 'viewer' ? await pool.connect(`room=${room}`) : await pool.connect(`room=${room}&token=${await node.tokens.mint({ role, room, name, ttlSeconds: 600 })}`);
    const join = await c.request('join', { name, rtpCapabilities: node.pool.rtpCapabilities as never });
    return { c, id: join.peerId, join };
  };

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1', CALL_RING_SECONDS: '1' });
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await node?.close();
  });

  /** Both sides set up send + recv transports and produce; returns the producers. */
  const media = async (c: TestClient, callId: string, ssrc: number) => {
    const send = await c.request('callCreateTransport', { callId, direction: 'send' });
    await c.request('callCreateTransport', { callId, direction: 'recv' });
    const audio = await c.request('callProduce', { callId, transportId: send.transportId, kind: 'audio', rtpParameters: opus(ssrc) });
    const video = await c.request('callProduce', { callId, transportId: send.transportId, kind: 'video', rtpParameters: vp8(ssrc + 1) });
    return { audio, video };
  };

  it('A calls B, B accepts, each consumes the other; outsiders cannot reach the call; A hangs up → both told once', async () => {
    const room = 'call-1';
    const a = await person(room, 'Ada');
    const b = await person(room, 'Bob');
    const c = await person(room, 'Cy');
    expect(a.join.calls).toBe('everyone');
    const { callId } = await a.c.request('callStart', { peerId: b.id });
    expect(await b.c.waitFor('incomingCall')).toMatchObject({ callId, from: { peerId: a.id, name: 'Ada' }, video: true });
    // Ringing: no media yet, and only the callee answers.
    expect(await errorCode(a.c.request('callCreateTransport', { callId, direction: 'send' }))).toBe('invalid-state');
    expect(await errorCode(a.c.request('callAnswer', { callId, accept: true }))).toBe('forbidden');
    // Both are busy while it rings.
    expect(await errorCode(c.c.request('callStart', { peerId: b.id }))).toBe('busy');
    expect(await errorCode(c.c.request('callStart', { peerId: a.id }))).toBe('busy');
    await b.c.request('callAnswer', { callId, accept: true });
    expect(await a.c.waitFor('callAccepted')).toEqual({ callId });

    const am = await media(a.c, callId, 100);
    const bm = await media(b.c, callId, 200);
    // Each side is told of the other's producers, and consumes them.
    expect(await b.c.waitFor('callProducer', (d) => d.producerId === am.video.producerId)).toEqual({ callId, producerId: am.video.producerId, kind: 'video' });
    await a.c.waitFor('callProducer', (d) => d.producerId === bm.audio.producerId);
    const bGets = await b.c.request('callConsume', { callId, producerId: am.video.producerId });
    expect(bGets).toMatchObject({ peerId: a.id, kind: 'video', producerId: am.video.producerId });
    await b.c.request('callResumeConsumer', { callId, consumerId: bGets.consumerId });
    expect((await a.c.request('callConsume', { callId, producerId: bm.audio.producerId })).kind).toBe('audio');
    // Nobody consumes their own media through the call.
    expect(await errorCode(a.c.request('callConsume', { callId, producerId: am.audio.producerId }))).toBe('not-found');

    // Outsiders: not through the call's id, not through the stage's methods, and the room never announced it.
    expect(await errorCode(c.c.request('callConsume', { callId, producerId: am.video.producerId }))).toBe('not-found');
    expect(await errorCode(c.c.request('callCreateTransport', { callId, direction: 'recv' }))).toBe('not-found');
    await c.c.request('setRtpCapabilities', { rtpCapabilities: node.pool.rtpCapabilities as never });
    expect(await errorCode(c.c.request('consume', { producerId: am.video.producerId }))).toBe('not-found');
    expect(c.c.notifications.some((x) => x.method === 'newProducer' || x.method === 'callProducer' || x.method === 'incomingCall')).toBe(false);
    const r = node.rooms.get(room)!;
    expect(r.stage.size).toBe(0);
    expect(r.describe().calls).toEqual({ ringing: 0, active: 1 });
    // The participant list marks both as in a call.
    expect(r.participants().filter((p) => p.inCall).map((p) => p.peerId).sort()).toEqual([a.id, b.id].sort());

    const callRouterTransports = r.calls.list()[0]!;
    expect(callRouterTransports.worker).toBe(0);
    await a.c.request('callHangup', { callId });
    expect(await b.c.waitFor('callEnded')).toEqual({ callId, reason: 'hung-up', message: 'Ada hung up' });
    expect(await a.c.waitFor('callEnded')).toEqual({ callId, reason: 'hung-up', message: 'Ada hung up' });
    await new Promise((res) => setTimeout(res, 200));
    expect(a.c.notifications.filter((x) => x.method === 'callEnded')).toHaveLength(1);
    expect(b.c.notifications.filter((x) => x.method === 'callEnded')).toHaveLength(1);
    // Everything of the call is closed, and both are free again.
    expect(r.calls.list()).toEqual([]);
    expect(await errorCode(b.c.request('callConsume', { callId, producerId: am.audio.producerId }))).toBe('not-found');
    const again = await c.c.request('callStart', { peerId: a.id });
    await c.c.request('callHangup', { callId: again.callId });
  });

  it('declined, unanswered, or either side disconnecting ends the call for both with the reason', async () => {
    const room = 'call-2';
    const a = await person(room, 'Ann');
    const b = await person(room, 'Ben');
    const first = await a.c.request('callStart', { peerId: b.id, video: false });
    expect((await b.c.waitFor('incomingCall')).video).toBe(false);
    await b.c.request('callAnswer', { callId: first.callId, accept: false });
    expect(await a.c.waitFor('callEnded', (d) => d.callId === first.callId)).toEqual({ callId: first.callId, reason: 'declined', message: 'Ben declined the call' });

    const second = await a.c.request('callStart', { peerId: b.id });
    // CALL_RING_SECONDS=1 here.
    expect(await a.c.waitFor('callEnded', (d) => d.callId === second.callId, 4000)).toMatchObject({ reason: 'no-answer', message: 'Ben did not answer' });
    expect(await b.c.waitFor('callEnded', (d) => d.callId === second.callId)).toMatchObject({ reason: 'no-answer' });

    const third = await b.c.request('callStart', { peerId: a.id, video: false });
    await a.c.request('callAnswer', { callId: third.callId, accept: true });
    await media(a.c, third.callId, 300).catch((e: { code: string }) => expect(e.code).toBe('forbidden')); // an audio call refuses video
    b.c.close();
    expect(await a.c.waitFor('callEnded', (d) => d.callId === third.callId)).toEqual({ callId: third.callId, reason: 'disconnected', message: 'Ben disconnected' });
    expect(node.rooms.get(room)!.calls.list()).toEqual([]);
  });

  it('the call’s worker dying ends the call for both (media-failed); the stage is untouched and they can call again', async () => {
    const room = 'call-5';
    const a = await person(room, 'Wes');
    const b = await person(room, 'Val');
    const { callId } = await a.c.request('callStart', { peerId: b.id });
    await b.c.request('callAnswer', { callId, accept: true });
    await media(a.c, callId, 700);
    const worker = node.pool.workers[node.rooms.get(room)!.calls.list()[0]!.worker!]!;
    const replaced = new Promise((resolve) => node.pool.once('workerreplaced', resolve));
    process.kill(worker.pid, 'SIGKILL');
    for (const p of [a, b]) expect(await p.c.waitFor('callEnded', (d) => d.callId === callId)).toEqual({ callId, reason: 'media-failed', message: 'The call’s media server restarted; call again' });
    expect(node.rooms.get(room)!.calls.list()).toEqual([]);
    await replaced;
    const again = await b.c.request('callStart', { peerId: a.id });
    await a.c.request('callAnswer', { callId: again.callId, accept: true });
    await media(b.c, again.callId, 800);
  });

  it('two callers at once for one callee: one rings, the other is busy', async () => {
    const room = 'call-3';
    const target = await person(room, 'Tia');
    const x = await person(room, 'Xan');
    const y = await person(room, 'Yul');
    const results = await Promise.all([errorCode(x.c.request('callStart', { peerId: target.id })), errorCode(y.c.request('callStart', { peerId: target.id }))]);
    expect(results.sort()).toEqual(['busy', 'ok']);
    await poll(async () => target.c.notifications.filter((m) => m.method === 'incomingCall').length, (k) => k === 1, 2000, 'one incoming call');
    await new Promise((r) => setTimeout(r, 100));
    expect(target.c.notifications.filter((m) => m.method === 'incomingCall')).toHaveLength(1);
    // Self-calls and unknown people are refused.
    expect(await errorCode(target.c.request('callStart', { peerId: target.id }))).toBe('bad-request');
    const z = await person(room, 'Zed');
    expect(await errorCode(z.c.request('callStart', { peerId: 'nobody' }))).toBe('not-found');
  });

  it('a connection places 3 calls in a burst, then is rate-limited, even after leaving and joining again', async () => {
    const room = 'call-4';
    const caller = await person(room, 'Rex');
    const callee = await person(room, 'Sue');
    for (let i = 0; i < 3; i++) {
      const { callId } = await caller.c.request('callStart', { peerId: callee.id });
      await caller.c.request('callHangup', { callId });
    }
    expect(await errorCode(caller.c.request('callStart', { peerId: callee.id }))).toBe('rate-limited');
    await caller.c.request('leave', {});
    await caller.c.request('join', { name: 'Rex' });
    expect(await errorCode(caller.c.request('callStart', { peerId: callee.id }))).toBe('rate-limited');
    // The callee's own budget is untouched.
    const back = await callee.c.request('callStart', { peerId: node.rooms.get(room)!.participants().find((p) => p.name === 'Rex')!.peerId });
    expect(back.callId).toBeTruthy();
  });

  it('CALLS=hosts lets only broadcasters and admins call each other; an admin can list and end calls', async () => {
    const hostsOnly = await startTestNode({ MEDIASOUP_WORKERS: '1', CALLS: 'hosts', ADMIN_TOKEN: 'calls-admin-token-0123456789abcdef' });
    const local = clientPool(() => hostsOnly.urls.ws);
    try {
      const mk = async (role: 'viewer' | 'publisher', name: string) => {
        const c = role === 'viewer' ? await local.connect('room=h') : await local.connect(`room=h&token=${await hostsOnly.tokens.mint({ role, room: 'h', name, ttlSeconds: 600 })}`);
        return { c, join: await c.request('join', { name }) };
      };
      const p1 = await mk('publisher', 'One');
      const p2 = await mk('publisher', 'Two');
      const v = await mk('viewer', 'Viv');
      expect(p1.join.calls).toBe('hosts');
      expect(await errorCode(v.c.request('callStart', { peerId: p1.join.peerId }))).toBe('forbidden');
      expect(await errorCode(p1.c.request('callStart', { peerId: v.join.peerId }))).toBe('forbidden');
      const { callId } = await p1.c.request('callStart', { peerId: p2.join.peerId });
      const auth = { authorization: 'Bearer calls-admin-token-0123456789abcdef' };
      const list = (await (await fetch(`${hostsOnly.urls.http}/admin/calls`, { headers: auth })).json()) as { calls: { callId: string; state: string }[] };
      expect(list.calls).toEqual([expect.objectContaining({ callId, state: 'ringing', room: 'h', caller: { peerId: p1.join.peerId, name: 'One' } })]);
      const del = await fetch(`${hostsOnly.urls.http}/admin/calls/${callId}`, { method: 'DELETE', headers: auth });
      expect(del.status).toBe(200);
      expect(await p2.c.waitFor('callEnded')).toMatchObject({ reason: 'ended-by-admin' });
      expect((await fetch(`${hostsOnly.urls.http}/admin/calls/${callId}`, { method: 'DELETE', headers: auth })).status).toBe(404);
      const metrics = await (await fetch(`${hostsOnly.urls.http}/metrics`)).text();
      expect(metrics).toMatch(/fourcast_calls_total\{outcome="placed"[^}]*\} 1/);
      expect(metrics).toMatch(/fourcast_calls_total\{outcome="ended-by-admin"[^}]*\} 1/);
    } finally {
      local.closeAll();
      await hostsOnly.close();
    }
  });
});
