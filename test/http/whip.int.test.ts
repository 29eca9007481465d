import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { waitFor } from '../helpers/rtp.js';
import { audioSection, offer, videoSection } from '../helpers/sdpOffers.js';

// The HTTP surface of WHIP and WHEP on a real node (real mediasoup, real sockets). The offers
// here are valid SDP that never connect: what is checked is what the server creates, refuses
// and cleans up, including under concurrent requests.
const whipOffer = (ssrc = 1000) => offer([audioSection('0', 'sendonly', ssrc), videoSection('1', 'sendonly', 'chrome', ssrc + 10)]);
const whepOffer = (pairs = 4) => offer(Array.from({ length: pairs }, (_, i) => [audioSection(String(2 * i), 'recvonly'), videoSection(String(2 * i + 1), 'recvonly')]).flat());

const ADMIN = 'admin-token-for-whip-tests';

describe('WHIP and WHEP over HTTP', () => {
  let node: Fourcast;
  let base: string;
  const post = (path: string, sdp: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/sdp', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, body: sdp });
  const publisher = (room: string, name: string) => node.tokens.mint({ role: 'publisher', room, name, ttlSeconds: 600 });

  beforeAll(async () => {
    node = await startTestNode({ WHIP_SESSIONS_PER_ADDRESS: '6', WHIP_CONNECT_SECONDS: '3', WHIP_RATE_PER_MINUTE: '1000', ADMIN_TOKEN: ADMIN });
    base = node.urls.http;
  });
  afterEach(() => {
    node.mediaSessions.closeAll();
  });
  afterAll(async () => {
    await node?.close();
  });

  it('a WHIP POST answers 201 with the SDP answer, Location, ETag, ICE-server Links and CORS; the token’s name goes on stage; DELETE ends it', async () => {
    const token = await publisher('w1', 'OBS Studio');
    const res = await post('/whip/w1', whipOffer(), token, { origin: 'http://player.example' });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/sdp');
    const location = res.headers.get('location')!;
    expect(location).toMatch(/^\/whip\/w1\/[0-9a-f-]{36}$/);
    expect(res.headers.get('etag')).toMatch(/^".+"$/);
    expect(res.headers.get('link')).toBe('<stun:127.0.0.1:9>; rel="ice-server"');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('Location');
    const answer = await res.text();
    expect(answer).toContain('a=ice-lite');
    expect(answer).toMatch(/a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/);

    const room = node.rooms.get('w1')!;
    expect(room.stage.infos()).toMatchObject([{ name: 'OBS Studio', producers: [{ kind: 'audio', source: 'mic' }, { kind: 'video', source: 'camera' }] }]);
    expect(node.mediaSessions.count('whip')).toBe(1);

    // The resource needs the same token; then it ends the session and frees the slot.
    expect((await fetch(`${base}${location}`, { method: 'DELETE', headers: { authorization: `Bearer ${await publisher('w1', 'x')}` } })).status).toBe(401);
    expect((await fetch(`${base}${location}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect(room.stage.size).toBe(0);
    expect(node.mediaSessions.size).toBe(0);
    expect((await fetch(`${base}${location}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });

  it('OPTIONS, PATCH (trickle, ICE restart, If-Match) and other methods follow RFC 9725', async () => {
    const opts = await fetch(`${base}/whip/w2`, { method: 'OPTIONS', headers: { origin: 'http://player.example', 'access-control-request-method': 'POST' } });
    expect(opts.status).toBe(204);
    expect(opts.headers.get('accept-post')).toBe('application/sdp');
    expect(opts.headers.get('access-control-allow-headers')).toContain('Authorization');

    const token = await publisher('w2', 'Encoder');
    const res = await post('/whip/w2', whipOffer(), token);
    expect(res.status).toBe(201);
    const url = `${base}${res.headers.get('location')}`;
    const etag = res.headers.get('etag')!;
    const patch = (body: string, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/trickle-ice-sdpfrag', ...headers }, body });

    expect((await patch('a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n', { 'if-match': etag })).status).toBe(204);
    expect((await patch('a=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5 typ host\r\n', { 'if-match': '"stale"' })).status).toBe(412);
    expect((await fetch(url, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body: 'x' })).status).toBe(415);
    expect(await (await patch('hello world')).json()).toMatchObject({ error: 'bad-sdp' });

    const restart = await patch('a=ice-ufrag:newU\r\na=ice-pwd:newpasswordnewpassword\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n', { 'if-match': '*' });
    expect(restart.status).toBe(200);
    expect(restart.headers.get('content-type')).toBe('application/trickle-ice-sdpfrag');
    const newEtag = restart.headers.get('etag')!;
    expect(newEtag).not.toBe(etag);
    const fragment = await restart.text();
    expect(fragment).toContain(`a=ice-ufrag:${newEtag.slice(1, -1)}`);
    expect(fragment).toMatch(/a=candidate:.* typ host/);
    expect((await patch('a=mid:0\r\n', { 'if-match': etag })).status).toBe(412);

    const get = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('PATCH, DELETE, OPTIONS');
  });

  it('refusals say why: 401 without or with a foreign token, 403 for a viewer token, 415, 406 without a common codec, 400 for non-SDP', async () => {
    const r401 = await post('/whip/w3', whipOffer());
    expect(r401.status).toBe(401);
    expect(r401.headers.get('www-authenticate')).toContain('Bearer');
    expect(await r401.json()).toMatchObject({ error: 'token-required' });
    const foreign = 'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoicHVibGlzaGVyIiwicm9vbSI6InczIiwibmFtZSI6IngiLCJleHAiOjk5OTk5OTk5OTl9.c2lnbmF0dXJl';
    expect(await (await post('/whip/w3', whipOffer(), foreign)).json()).toMatchObject({ error: 'token-invalid' });
    const viewer = await node.tokens.mint({ role: 'viewer', room: 'w3', name: 'V', ttlSeconds: 60 });
    const r403 = await post('/whip/w3', whipOffer(), viewer);
    expect(r403.status).toBe(403);
    expect(((await r403.json()) as { message: string }).message).toContain('cannot publish');
    const token = await publisher('w3', 'Enc');
    expect((await post('/whip/w3', whipOffer(), token, { 'content-type': 'application/json' })).status).toBe(415);
    const vp9 = await post('/whip/w3', offer([videoSection('0', 'sendonly', 'vp9-only')]), token);
    expect(vp9.status).toBe(406);
    expect(await vp9.json()).toMatchObject({ error: 'no-common-codec', message: expect.stringContaining('this server takes VP8, H264') });
    expect((await post('/whip/w3', 'not sdp', token)).status).toBe(400);
    // Nothing of these refusals stayed behind.
    expect(node.rooms.get('w3')?.stage.size ?? 0).toBe(0);
    expect(node.mediaSessions.size).toBe(0);
  });

  it('six WHIP broadcasters at once for four slots: exactly four get 201, two get 409 stage-full, nothing leaks', async () => {
    const tokens = await Promise.all(Array.from({ length: 6 }, (_, i) => publisher('race', `Enc ${i}`)));
    const results = await Promise.all(tokens.map((t, i) => post('/whip/race', whipOffer(2000 + 100 * i), t)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 201, 201, 201, 409, 409]);
    for (const r of results.filter((r) => r.status === 409)) expect(await r.json()).toMatchObject({ error: 'stage-full' });
    const room = node.rooms.get('race')!;
    expect(room.stage.size).toBe(4);
    expect(room.peers.size).toBe(4);
    node.mediaSessions.closeAll();
    expect(room.stage.size).toBe(0);
    expect([...room.peers.values()]).toEqual([]);
    expect(room.media.unitCount).toBe(0);
  });

  it('an encoder that POSTs again with its token replaces its older session (a reconnect keeps its slot)', async () => {
    const token = await publisher('again', 'Enc');
    const first = await post('/whip/again', whipOffer(), token);
    const firstId = first.headers.get('location')!.split('/').pop()!;
    const second = await post('/whip/again', whipOffer(3000), token);
    expect(second.status).toBe(201);
    expect(node.mediaSessions.get(firstId)).toBeUndefined();
    expect(node.rooms.get('again')!.stage.size).toBe(1);
    expect(node.mediaSessions.size).toBe(1);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/fourcast_whip_sessions_ended_total\{protocol="whip",reason="replaced"\} 1/);
  });

  it('an admin ban ends the WHIP session (its slot frees) and the banned token cannot come back', async () => {
    const token = await publisher('banned', 'Rogue');
    const res = await post('/whip/banned', whipOffer(), token);
    expect(res.status).toBe(201);
    const room = node.rooms.get('banned')!;
    room.moderation.kick(room.stage.peers[0]!.id, { ban: true, reason: 'spam' });
    expect(node.mediaSessions.size).toBe(0);
    expect(room.stage.size).toBe(0);
    const again = await post('/whip/banned', whipOffer(), token);
    expect(again.status).toBe(403);
    expect(await again.json()).toMatchObject({ error: 'banned' });
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/fourcast_whip_sessions_ended_total\{protocol="whip",reason="removed"\} 1/);
  });

  it('operators list sessions and end one under /admin/whip', async () => {
    expect((await post('/whip/ops', whipOffer(), await publisher('ops', 'Encoder'))).status).toBe(201);
    const admin = { authorization: `Bearer ${ADMIN}` };
    const listed = (await (await fetch(`${base}/admin/whip?room=ops`, { headers: admin })).json()) as { sessions: { id: string; protocol: string; peerId: string; iceState: string }[] };
    expect(listed.sessions).toMatchObject([{ protocol: 'whip', peerId: node.rooms.get('ops')!.stage.peers[0]!.id, iceState: 'new' }]);
    expect((await fetch(`${base}/admin/whip`)).status).toBe(401);
    expect((await fetch(`${base}/admin/whip/${listed.sessions[0]!.id}`, { method: 'DELETE', headers: admin })).status).toBe(200);
    expect(node.rooms.get('ops')!.stage.size).toBe(0);
    expect((await fetch(`${base}/admin/whip/${listed.sessions[0]!.id}`, { method: 'DELETE', headers: admin })).status).toBe(404);
  });

  it('a session whose client never connects ends after WHIP_CONNECT_SECONDS and frees its slot', async () => {
    const token = await publisher('gone', 'Enc');
    expect((await post('/whip/gone', whipOffer(), token)).status).toBe(201);
    const room = node.rooms.get('gone')!;
    expect(room.stage.size).toBe(1);
    await waitFor(() => node.mediaSessions.size === 0, 8000, 'the unconnected session to end');
    expect(room.stage.size).toBe(0);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/fourcast_whip_sessions_ended_total\{protocol="whip",reason="ice-timeout"\} 1/);
  });

  it('WHEP: refused while nobody is on stage (no room is created); anonymous players are admitted once there is a show', async () => {
    const empty = await post('/whep/nobody', whepOffer());
    expect(empty.status).toBe(409);
    expect(((await empty.json()) as { message: string }).message).toContain('nobody is on stage');
    expect(node.rooms.get('nobody')).toBeUndefined();

    expect((await post('/whip/show', whipOffer(), await publisher('show', 'Host'))).status).toBe(201);
    const res = await post('/whep/show', whepOffer());
    expect(res.status, await res.clone().text()).toBe(201);
    const answer = await res.text();
    expect(answer.match(/a=sendonly/g)).toHaveLength(8);
    expect(answer).toContain('a=msid:fourcast-0 audio-0');
    const room = node.rooms.get('show')!;
    expect(room.viewerCount).toBe(1);
    expect([...room.peers.values()].find((p) => p.role === 'viewer')!.name).toBe('WHEP viewer');
    // The player's slot 0 shows the broadcaster: both of its producers are consumed, by MID.
    await waitFor(() => [...room.peers.values()].find((p) => p.role === 'viewer')!.consumers.size === 2, 5000, 'the WHEP consumers');
    const consumers = [...[...room.peers.values()].find((p) => p.role === 'viewer')!.consumers.values()];
    expect(consumers.map((c) => c.rtpParameters.mid).sort()).toEqual(['0', '1']);
    // Without a token, the session URL is the capability.
    expect((await fetch(`${base}${res.headers.get('location')}`, { method: 'DELETE' })).status).toBe(200);
    expect(room.viewerCount).toBe(0);
  });

  it('an H.264 encoder (OBS’s offer) goes live; a VP8-only player gets the VP8 broadcaster and a quiet slot for the H.264 one', async () => {
    const obs = await post('/whip/mixed', offer([audioSection('0', 'sendonly', 7000), videoSection('1', 'sendonly', 'obs', 7010)]), await publisher('mixed', 'OBS'));
    expect(obs.status, await obs.clone().text()).toBe(201);
    expect(await obs.text()).toContain('a=rtpmap:96 H264/90000');
    const room = node.rooms.get('mixed')!;
    const obsVideo = [...room.stage.peers[0]!.producers.values()].find((p) => p.source === 'camera')!.producer;
    expect(obsVideo.rtpParameters.codecs[0]!.mimeType).toBe('video/H264');
    expect((await post('/whip/mixed', whipOffer(7100), await publisher('mixed', 'Browser'))).status).toBe(201);
    // Slot 0: OBS (H.264, not offered by this player: quiet, its audio still plays); slot 1: the VP8 browser.
    const res = await post('/whep/mixed', offer([0, 1].flatMap((i) => [audioSection(String(2 * i), 'recvonly'), videoSection(String(2 * i + 1), 'recvonly', 'vp8-only')])));
    expect(res.status, await res.clone().text()).toBe(201);
    const player = [...room.peers.values()].find((p) => p.role === 'viewer')!;
    expect([...player.consumers.values()].map((c) => `${c.rtpParameters.mid}:${c.kind}`).sort()).toEqual(['0:audio', '2:audio', '3:video']);
  });

  it('pipelined WHEP POSTs from one address stop at WHIP_SESSIONS_PER_ADDRESS (6), counted before any await', async () => {
    expect((await post('/whip/crowd', whipOffer(), await publisher('crowd', 'Host'))).status).toBe(201);
    const results = await Promise.all(Array.from({ length: 12 }, () => post('/whep/crowd', whepOffer(1))));
    const statuses = results.map((r) => r.status).sort();
    // The broadcaster's session is one of the address's six.
    expect(statuses).toEqual([...Array(5).fill(201), ...Array(7).fill(429)]);
    const refused = results.find((r) => r.status === 429)!;
    // Refusals carry CORS too: a browser player can read why.
    expect(refused.headers.get('access-control-allow-origin')).toBe('*');
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(await refused.json()).toMatchObject({ error: 'rate-limited' });
    expect(node.mediaSessions.count('whep')).toBe(5);
    // A session ending gives its place back.
    node.mediaSessions.get(node.mediaSessions.list().find((s) => s.protocol === 'whep')!.id)!.close('deleted');
    expect((await post('/whep/crowd', whepOffer(1))).status).toBe(201);
  });
});
