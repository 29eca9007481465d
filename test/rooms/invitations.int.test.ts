import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { clientPool, errorCode, type TestClient } from '../helpers/wsClient.js';
import { opus, vp8 } from '../helpers/rtpParameters.js';
import { poll } from '../helpers/pages.js';

const ADMIN = 'invitations-admin-token-0123456789abcdef';

// Joining the stage with consent, over real sockets and a real worker: invitations, raised
// hands, the slot reserved at accept (under concurrent accepts), guests sent back, expiry.
describe('joining the stage with consent', () => {
  let node: Fourcast;
  const pool = clientPool(() => node.urls.ws);
  let n = 0;
  const host = async (room: string, name = `Host${++n}`) => {
    const c = await pool.connect(`room=${room}&token=${await node.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 })}`);
    return { c, join: await c.request('join', {}) };
  };
  const viewer = async (room: string, name = `Vee${++n}`) => {
    const c = await pool.connect(`room=${room}`);
    return { c, join: await c.request('join', { name }) };
  };
  const produceMic = async (c: TestClient, ssrc: number) => {
    const t = await c.request('createTransport', { direction: 'send' });
    return { t, p: await c.request('produce', { transportId: t.transportId, kind: 'audio', rtpParameters: opus(ssrc), source: 'mic' }) };
  };

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1', STAGE_INVITATION_SECONDS: '2', STAGE_GUEST_PUBLISH_SECONDS: '2', ADMIN_TOKEN: ADMIN });
  });
  afterEach(() => pool.closeAll());
  afterAll(async () => {
    await node?.close();
  });

  it('invite → accept reserves a slot → the guest publishes on its own connection → sent back, the slot frees', async () => {
    const room = 'consent';
    const h = await host(room, 'Hana');
    await produceMic(h.c, 1);
    const v = await viewer(room, 'Vic');
    const other = await viewer(room, 'Olga');
    // A viewer may not publish before it is invited and accepts.
    expect(await errorCode(v.c.request('createTransport', { direction: 'send' }))).toBe('forbidden');
    // Viewers cannot invite.
    expect(await errorCode(other.c.request('inviteToStage', { peerId: v.join.peerId }))).toBe('forbidden');

    const inv = await h.c.request('inviteToStage', { peerId: v.join.peerId });
    expect(inv).toMatchObject({ peerId: v.join.peerId, name: 'Vic', from: { peerId: h.join.peerId, name: 'Hana' }, video: false, state: 'pending' });
    const seen = await v.c.waitFor('stageInvitation');
    expect(seen).toMatchObject({ invitationId: inv.invitationId, from: { name: 'Hana' }, video: false });
    // Only the invited viewer may answer.
    expect(await errorCode(other.c.request('answerInvitation', { invitationId: inv.invitationId, accept: true }))).toBe('forbidden');
    const roomObj = node.rooms.get(room)!;
    expect(roomObj.viewerCount).toBe(2);

    const answer = await v.c.request('answerInvitation', { invitationId: inv.invitationId, accept: true });
    expect(answer).toMatchObject({ accepted: true, video: false });
    expect(answer.publishBy).toBeGreaterThan(Date.now());
    // Everyone sees the guest appear; the host's list shows the invitation accepted; the guest is no longer audience.
    expect(await other.c.waitFor('publisherJoined', (d) => d.peerId === v.join.peerId)).toEqual({ peerId: v.join.peerId, name: 'Vic', guest: true });
    expect(await h.c.waitFor('invitationChanged', (d) => d.state === 'accepted')).toMatchObject({ invitationId: inv.invitationId });
    expect(roomObj.stage.size).toBe(2);
    expect(roomObj.viewerCount).toBe(1);

    // The same connection publishes: the microphone, not the camera (the invitation is audio-only).
    const { t, p } = await produceMic(v.c, 2);
    expect(await errorCode(v.c.request('produce', { transportId: t.transportId, kind: 'video', rtpParameters: vp8(3), source: 'camera' }))).toBe('forbidden');
    expect(await other.c.waitFor('newProducer', (d) => d.producerId === p.producerId)).toMatchObject({ peerId: v.join.peerId, kind: 'audio' });
    // Others can consume it.
    await other.c.request('setRtpCapabilities', { rtpCapabilities: node.pool.rtpCapabilities as never });
    await other.c.request('createTransport', { direction: 'recv' });
    const consumer = await other.c.request('consume', { producerId: p.producerId });
    expect(consumer.peerId).toBe(v.join.peerId);
    // A publish timer that fires after the guest published does not send it back.
    await new Promise((r) => setTimeout(r, 2300));
    expect(roomObj.stage.peers.map((x) => x.id)).toContain(v.join.peerId);

    // Viewers cannot send a guest back; a host can.
    expect(await errorCode(other.c.request('sendToAudience', { peerId: v.join.peerId }))).toBe('forbidden');
    await h.c.request('sendToAudience', { peerId: v.join.peerId });
    expect(await v.c.waitFor('backToAudience')).toEqual({ code: 'sent-back', reason: 'Hana sent you back to the audience' });
    expect(await other.c.waitFor('producerClosed', (d) => d.producerId === p.producerId)).toBeTruthy();
    expect(await other.c.waitFor('publisherLeft', (d) => d.peerId === v.join.peerId)).toBeTruthy();
    expect(roomObj.stage.size).toBe(1);
    expect(roomObj.viewerCount).toBe(2);
    // Back in the audience: publishing is refused again.
    expect(await errorCode(v.c.request('produce', { transportId: t.transportId, kind: 'audio', rtpParameters: opus(4), source: 'mic' }))).toBe('forbidden');
    // Hosts are not guests: sendToAudience does not apply to them.
    expect(await errorCode(h.c.request('sendToAudience', { peerId: h.join.peerId }))).toBe('not-found');
  });

  it('a declined invitation changes nothing; a raised hand reaches hosts and the invitation lowers it', async () => {
    const room = 'decline';
    const h = await host(room, 'Hal');
    await produceMic(h.c, 10);
    const v = await viewer(room, 'Dee');
    await v.c.request('raiseHand', {});
    expect(await h.c.waitFor('handRaised')).toEqual({ peerId: v.join.peerId, name: 'Dee', raised: true });
    // Raising it again at once is a no-op; lowering and raising again within the cooldown is refused.
    await v.c.request('raiseHand', {});
    await v.c.request('lowerHand', {});
    expect(await h.c.waitFor('handRaised', (d) => !d.raised)).toMatchObject({ raised: false });
    expect(await errorCode(v.c.request('raiseHand', {}))).toBe('rate-limited');
    // A host joining later sees the hands that are up (none now) and the open invitations.
    const inv = await h.c.request('inviteToStage', { peerId: v.join.peerId, video: true });
    // One invitation at a time per viewer.
    expect(await errorCode(h.c.request('inviteToStage', { peerId: v.join.peerId }))).toBe('invalid-state');
    const late = await host(room, 'Late');
    expect(late.join.invitations.map((i) => i.invitationId)).toEqual([inv.invitationId]);
    // The joiner gets the participant list in its answer (a push sent before it subscribed would be lost).
    expect(late.join.participants?.map((p) => p.name).sort()).toEqual(['Dee', 'Hal', 'Late']);
    const roomObj = node.rooms.get(room)!;
    const before = { stage: roomObj.stage.size, viewers: roomObj.viewerCount, participants: roomObj.participants().map((p) => ({ ...p })) };

    expect(await v.c.request('answerInvitation', { invitationId: inv.invitationId, accept: false })).toEqual({ accepted: false, video: true, publishBy: null });
    expect(await h.c.waitFor('invitationChanged', (d) => d.state === 'declined')).toMatchObject({ invitationId: inv.invitationId });
    expect(await late.c.waitFor('invitationChanged', (d) => d.state === 'declined')).toBeTruthy();
    expect({ stage: roomObj.stage.size, viewers: roomObj.viewerCount, participants: roomObj.participants() }).toEqual(before);
    expect(v.c.notifications.some((x) => x.method === 'publisherJoined')).toBe(false);
    expect(await errorCode(v.c.request('createTransport', { direction: 'send' }))).toBe('forbidden');
    // Answered: a second answer finds nothing.
    expect(await errorCode(v.c.request('answerInvitation', { invitationId: inv.invitationId, accept: true }))).toBe('not-found');
  });

  it('four on stage: an accept is refused stage-full and the invitation stays open, saying why', async () => {
    const room = 'full';
    const hosts = [];
    for (let i = 0; i < 4; i++) {
      const h = await host(room);
      await produceMic(h.c, 20 + i);
      hosts.push(h);
    }
    const v = await viewer(room);
    const inv = await hosts[0]!.c.request('inviteToStage', { peerId: v.join.peerId });
    const refused = await v.c.request('answerInvitation', { invitationId: inv.invitationId, accept: true }).then(
      () => undefined,
      (e: { code: string; message: string }) => e,
    );
    expect(refused?.code).toBe('stage-full');
    expect(refused?.message).toMatch(/already has 4 broadcasters/);
    expect(await hosts[1]!.c.waitFor('invitationChanged', (d) => d.refused !== undefined)).toMatchObject({ state: 'pending', refused: expect.stringMatching(/4 broadcasters/) });
    expect(node.rooms.get(room)!.stage.size).toBe(4);
    expect(await errorCode(v.c.request('createTransport', { direction: 'send' }))).toBe('forbidden');
    // A seat frees: the same invitation can now be accepted.
    await hosts[3]!.c.request('leave', {});
    expect((await v.c.request('answerInvitation', { invitationId: inv.invitationId, accept: true })).accepted).toBe(true);
  });

  it('two viewers accepting the last slot at once: exactly one gets it', async () => {
    const room = 'race';
    const hosts = [];
    for (let i = 0; i < 3; i++) {
      const h = await host(room);
      await produceMic(h.c, 30 + i);
      hosts.push(h);
    }
    const vs = [await viewer(room), await viewer(room), await viewer(room)];
    const invs: { invitationId: string }[] = [];
    for (const v of vs) invs.push(await hosts[0]!.c.request('inviteToStage', { peerId: v.join.peerId }));
    // Pipelined: all three answers are on the wire before any reply.
    const results = await Promise.all(vs.map((v, i) => errorCode(v.c.request('answerInvitation', { invitationId: invs[i]!.invitationId, accept: true }))));
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'stage-full')).toHaveLength(2);
    const roomObj = node.rooms.get(room)!;
    expect(roomObj.stage.size).toBe(4);
    expect([...roomObj.peers.values()].filter((p) => p.guest)).toHaveLength(1);
  });

  it('invitations expire and can be withdrawn; a guest that never publishes gives its slot back; a guest leaving frees it', async () => {
    const room = 'lapse';
    const h = await host(room, 'Hugo');
    await produceMic(h.c, 40);
    const a = await viewer(room);
    const b = await viewer(room);
    const c = await viewer(room);
    const expiring = await h.c.request('inviteToStage', { peerId: a.join.peerId });
    expect(await a.c.waitFor('invitationClosed', undefined, 5000)).toEqual({ invitationId: expiring.invitationId, state: 'expired', reason: 'the invitation expired before it was answered' });
    expect(await h.c.waitFor('invitationChanged', (d) => d.state === 'expired')).toBeTruthy();
    expect(await errorCode(a.c.request('answerInvitation', { invitationId: expiring.invitationId, accept: true }))).toBe('not-found');

    const withdrawn = await h.c.request('inviteToStage', { peerId: b.join.peerId });
    await h.c.request('withdrawInvitation', { invitationId: withdrawn.invitationId });
    expect(await b.c.waitFor('invitationClosed')).toMatchObject({ state: 'withdrawn', reason: 'Hugo withdrew the invitation' });
    expect(await errorCode(b.c.request('answerInvitation', { invitationId: withdrawn.invitationId, accept: true }))).toBe('not-found');

    const roomObj = node.rooms.get(room)!;
    const idle = await h.c.request('inviteToStage', { peerId: c.join.peerId });
    await c.c.request('answerInvitation', { invitationId: idle.invitationId, accept: true });
    expect(roomObj.stage.size).toBe(2);
    expect(await c.c.waitFor('backToAudience', undefined, 5000)).toMatchObject({ code: 'not-published' });
    expect(await h.c.waitFor('publisherLeft', (d) => d.peerId === c.join.peerId)).toBeTruthy();
    expect(roomObj.stage.size).toBe(1);

    // A guest who leaves the room (closes the tab) frees its slot at once.
    const again = await h.c.request('inviteToStage', { peerId: a.join.peerId });
    await a.c.request('answerInvitation', { invitationId: again.invitationId, accept: true });
    await produceMic(a.c, 41);
    expect(roomObj.stage.size).toBe(2);
    a.c.close();
    await poll(async () => roomObj.stage.size, (s) => s === 1, 5000, 'the slot freed');
    expect(roomObj.invitations.list()).toEqual([]);
  });

  it('an operator lists invitations, hands and guests, withdraws an invitation and sends a guest back; metrics count them', async () => {
    const room = 'ops';
    const h = await host(room, 'Opal');
    await produceMic(h.c, 60);
    const hand = await viewer(room, 'Hanna');
    const invited = await viewer(room, 'Ivo');
    const guest = await viewer(room, 'Gus');
    await hand.c.request('raiseHand', {});
    const open = await h.c.request('inviteToStage', { peerId: invited.join.peerId, video: true });
    const g = await h.c.request('inviteToStage', { peerId: guest.join.peerId });
    await guest.c.request('answerInvitation', { invitationId: g.invitationId, accept: true });
    await produceMic(guest.c, 61);
    const auth = { authorization: `Bearer ${ADMIN}` };
    const base = `${node.urls.http}/admin/rooms/${room}`;
    const listed = (await (await fetch(`${base}/invitations`, { headers: auth })).json()) as Record<string, unknown[]>;
    expect(listed).toEqual({
      invitations: [expect.objectContaining({ invitationId: open.invitationId, peerId: invited.join.peerId, name: 'Ivo', video: true, state: 'pending', from: { peerId: h.join.peerId, name: 'Opal' } })],
      hands: [{ peerId: hand.join.peerId, name: 'Hanna' }],
      guests: [{ peerId: guest.join.peerId, name: 'Gus', video: false, published: true }],
    });
    expect((await fetch(`${base}/invitations/${open.invitationId}`, { method: 'DELETE', headers: auth })).status).toBe(200);
    expect(await invited.c.waitFor('invitationClosed')).toMatchObject({ state: 'withdrawn', reason: 'an administrator withdrew the invitation' });
    expect((await fetch(`${base}/invitations/${open.invitationId}`, { method: 'DELETE', headers: auth })).status).toBe(404);
    expect((await fetch(`${base}/peers/${guest.join.peerId}/audience`, { method: 'POST', headers: auth })).status).toBe(200);
    expect(await guest.c.waitFor('backToAudience')).toMatchObject({ code: 'sent-back' });
    expect((await fetch(`${base}/peers/${h.join.peerId}/audience`, { method: 'POST', headers: auth })).status).toBe(404);
    expect(node.rooms.get(room)!.stage.size).toBe(1);
    const metrics = await (await fetch(`${node.urls.http}/metrics`)).text();
    expect(metrics).toMatch(/fourcast_stage_hands_raised(\{[^}]*\})? 1\n/);
    expect(metrics).toMatch(/fourcast_stage_invitations_total\{outcome="withdrawn"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/fourcast_stage_invitations_total\{outcome="accepted"[^}]*\} [1-9]/);
  });
});
