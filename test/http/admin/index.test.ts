import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildHttpApp } from '../../../src/http/app.js';
import type { AdminOptions } from '../../../src/http/admin/index.js';
import type { RoomSnapshot } from '../../../src/rooms/snapshot.js';
import { BanList } from '../../../src/moderation/banList.js';
import { TokenService } from '../../../src/auth/tokens.js';
import { Metrics } from '../../../src/metrics/metrics.js';
import { ProtocolError } from '../../../src/protocol/messages.js';
import { TurnService } from '../../../src/turn/service.js';
import { describeWorkerBinary } from '../../../src/media/workerBinary.js';
import * as mediasoup from 'mediasoup';
import { captureLog } from '../../helpers/captureLog.js';
import { openApi30Validator } from '../../helpers/openApi.js';

const ADMIN = 'admin-token-for-unit-tests-0123';
const auth = { authorization: `Bearer ${ADMIN}` };
const tokens = new TokenService('unit-test-secret-unit-test-secret-0123');

/** Stand-ins with the shape the admin routes read; every mutation is a spy. */
function fakes() {
  const participant = (peerId: string, role: 'publisher' | 'viewer', onStage: boolean, recvWorker?: number) => ({
    peerId,
    name: peerId.toUpperCase(),
    role,
    onStage,
    joinedAt: Date.UTC(2030, 0, 1),
    producers: onStage ? [{ producerId: 'prod-1', kind: 'audio' as const, source: 'mic' as const, paused: false }] : [],
    consumers: recvWorker === undefined ? 0 : 1,
    transports: recvWorker === undefined ? 0 : 1,
    recvWorker: recvWorker ?? null,
  });
  const host = { id: 'host' };
  const vera = { id: 'vera' };
  const chat = { messages: 3, lastSeq: 7, epoch: 'e1' };
  const snapshot = (opts: { participants?: boolean } = {}): RoomSnapshot => ({
    id: 'stage-1',
    createdAt: Date.UTC(2030, 0, 1, 12),
    viewers: 1,
    peers: 2,
    publishers: [{ peerId: 'host', name: 'HOST', relay: false }],
    chat: { ...chat },
    routers: [
      { worker: 0, viewers: 0, edges: 0, origin: true },
      { worker: 1, viewers: 1, edges: 0, origin: false },
    ],
    producers: { audio: 1, video: 0 },
    stage: { guests: 0, hands: 0, invitations: 0 },
    calls: { ringing: 0, active: 0 },
    ...(opts.participants === false ? {} : { participants: [participant('host', 'publisher', true), participant('vera', 'viewer', false, 1)] }),
  });
  const room = {
    id: 'stage-1',
    closed: false,
    peers: new Map<string, unknown>([
      ['host', host],
      ['vera', vera],
    ]),
    describe: vi.fn(snapshot),
    close: vi.fn(),
    moderation: { kick: vi.fn(), mute: vi.fn(async () => 1) },
    chat: { clear: vi.fn(async () => ({ seq: 7 })), delete: vi.fn(async (id: string) => ({ id, seq: 7 })) },
  };
  const roomMap = new Map<string, unknown>([['stage-1', room]]);
  const banList = new BanList(60_000);
  // A token holder's ban: its token and its address (what Room's ban stores).
  banList.ban('stage-1', ['tok:tok-1', 'ip:198.51.100.7']);
  const bans = { clear: vi.fn(() => 2), list: vi.fn((r?: string) => banList.list(r)), lift: vi.fn((r: string, k: string) => banList.lift(r, k)) };
  const rooms = { rooms: roomMap, get: (id: string) => roomMap.get(id), bans };
  const worker = (index: number) => ({
    index,
    pid: 1000 + index,
    port: 40000 + index,
    closed: index === 1,
    consumers: 5 * index,
    routers: 1,
    transports: 2,
    cpu: 0.25,
    viewers: 8 * index,
    busy: false,
    worker: { getResourceUsage: vi.fn(async () => ({ ru_utime: 120, ru_stime: 30, ru_maxrss: 51200, ru_ixrss: 0 })) },
  });
  const pool = { workers: [worker(0), worker(1)], budgetUsed: (w: { viewers: number }) => (w.viewers * 400) / 32000 };
  const mintSpy = vi.spyOn(tokens, 'mint');
  return { room, rooms, banList, pool, host, vera, mintSpy };
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await app?.close();
  app = undefined;
});

async function build(admin: Partial<AdminOptions> | undefined, f = fakes()) {
  const log = captureLog().log;
  app = await buildHttpApp({
    log,
    notReadyReasons: () => [],
    wsUrl: () => 'ws://127.0.0.1:1/ws',
    routerRtpCapabilities: {},
    access: { tokens, allowAnonymousViewers: true, isDraining: () => false, isBanned: () => false },
    turn: new TurnService({ twilio: undefined, coturn: undefined, stunUrls: ['stun:stun.example.test:3478'], ttlSeconds: 600 }, log),
    turnRatePerMinute: 30,
    metrics: new Metrics(),
    metricsToken: undefined,
    trustProxy: false,
    admin:
      admin &&
      ({
        token: ADMIN,
        rooms: f.rooms,
        pool: f.pool,
        tokens,
        publicUrl: () => 'https://live.example.test',
        ...admin,
      } as AdminOptions),
  });
  return { app, ...f };
}

/** Every admin route, with a request that would succeed given the token. */
const routes: (InjectOptions & { method: string; url: string })[] = [
  { method: 'GET', url: '/admin/rooms' },
  { method: 'GET', url: '/admin/rooms/stage-1' },
  { method: 'DELETE', url: '/admin/rooms/stage-1' },
  { method: 'POST', url: '/admin/rooms/stage-1/peers/vera/kick', payload: { reason: 'spam' } },
  { method: 'POST', url: '/admin/rooms/stage-1/peers/vera/ban', payload: { reason: 'spam' } },
  { method: 'POST', url: '/admin/rooms/stage-1/peers/host/mute' },
  { method: 'DELETE', url: '/admin/rooms/stage-1/bans' },
  { method: 'GET', url: '/admin/bans' },
  { method: 'GET', url: '/admin/bans?room=stage-1' },
  { method: 'DELETE', url: '/admin/rooms/stage-1/bans/token/tok-1' },
  { method: 'DELETE', url: '/admin/rooms/stage-1/chat' },
  { method: 'DELETE', url: '/admin/rooms/stage-1/chat/msg-1' },
  { method: 'GET', url: '/admin/workers' },
  { method: 'GET', url: '/admin/cluster' },
  { method: 'POST', url: '/admin/tokens', payload: { role: 'viewer', room: 'stage-1', name: 'Val' } },
];

describe('admin routes: bearer token', () => {
  const badHeaders: [string, Record<string, string>][] = [
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer not-the-admin-token-0000' }],
    ['the token with a suffix', { authorization: `Bearer ${ADMIN}x` }],
    ['another scheme', { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ];

  it.each(badHeaders)('refuses every route with %s: 401 JSON, nothing changed', async (_what, headers) => {
    const { room, rooms, pool, mintSpy } = await build({});
    for (const r of routes) {
      const res = await app!.inject({ ...r, headers } as InjectOptions);
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="admin"');
      expect(res.json()).toEqual({ error: 'unauthorized', message: expect.stringContaining('ADMIN_TOKEN') });
    }
    for (const fn of [room.close, room.moderation.kick, room.moderation.mute, room.chat.clear, room.chat.delete, rooms.bans.clear, rooms.bans.list, rooms.bans.lift]) {
      expect(fn).not.toHaveBeenCalled();
    }
    for (const w of pool.workers) expect(w.worker.getResourceUsage).not.toHaveBeenCalled();
    expect(mintSpy).not.toHaveBeenCalled();
  });

  it('checks the token before reading the body: a malformed body without the token is a 401', async () => {
    const { mintSpy } = await build({});
    const res = await app!.inject({ method: 'POST', url: '/admin/tokens', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    expect(res.statusCode).toBe(401);
    expect(mintSpy).not.toHaveBeenCalled();
  });

  it('accepts the token on every route (scheme case-insensitive)', async () => {
    await build({});
    for (const r of routes) {
      const res = await app!.inject({ ...r, headers: { authorization: `bearer ${ADMIN}` } } as InjectOptions);
      expect(res.statusCode, `${r.method} ${r.url}: ${res.body}`).toBeLessThan(300);
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  it('is not registered at all without a token, and refuses an empty one', async () => {
    await build(undefined);
    for (const r of routes) expect((await app!.inject({ ...r, headers: auth } as InjectOptions)).statusCode).toBe(404);
    const doc = (await app!.inject({ url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/admin'))).toEqual([]);
    await app!.close();
    app = undefined;
    await expect(build({ token: '' })).rejects.toThrow(/admin token must not be empty/);
  });
});

describe('admin routes: behaviour', () => {
  const call = (r: InjectOptions) => app!.inject({ ...r, headers: { ...auth, ...(r.headers ?? {}) } });

  it('lists rooms and describes one', async () => {
    await build({});
    const list = await call({ url: '/admin/rooms' });
    expect(list.json()).toEqual({
      rooms: [
        {
          id: 'stage-1',
          publishers: [{ peerId: 'host', name: 'HOST', relay: false }],
          viewers: 1,
          peers: 2,
          workers: [0, 1],
          chatMessages: 3,
          createdAt: '2030-01-01T12:00:00.000Z',
        },
      ],
    });
    const detail = await call({ url: '/admin/rooms/stage-1' });
    expect(detail.statusCode).toBe(200);
    expect(detail.json()).toMatchObject({
      id: 'stage-1',
      chat: { messages: 3, lastSeq: 7 },
      participants: [
        { peerId: 'host', name: 'HOST', role: 'publisher', onStage: true, producers: 1, consumers: 0, recvWorker: null, joinedAt: '2030-01-01T00:00:00.000Z' },
        { peerId: 'vera', name: 'VERA', role: 'viewer', onStage: false, producers: 0, consumers: 1, recvWorker: 1 },
      ],
      routers: [
        { worker: 0, viewers: 0, edges: 0, origin: true },
        { worker: 1, viewers: 1, edges: 0, origin: false },
      ],
    });
  });

  it('answers 404 not-found for an unknown room or peer, and 400 for a malformed room id', async () => {
    const { room } = await build({});
    // Bans outlive rooms: lifting them is the one room route that needs no open room (tested below).
    for (const r of routes.filter((x) => x.url.startsWith('/admin/rooms/stage-1') && !x.url.endsWith('/bans'))) {
      const res = await call({ ...r, url: r.url.replace('stage-1', 'nowhere') } as InjectOptions);
      expect(res.statusCode, r.url).toBe(404);
      expect(res.json()).toEqual({ error: 'not-found', message: expect.stringContaining('nowhere') });
    }
    const mute = await call({ method: 'POST', url: '/admin/rooms/stage-1/peers/ghost/mute' });
    expect(mute.statusCode).toBe(404);
    expect(mute.json()).toMatchObject({ error: 'not-found' });
    expect(room.moderation.mute).not.toHaveBeenCalled();
    const bad = await call({ url: '/admin/rooms/bad%20room' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'bad-request', message: expect.stringMatching(/^params\/room /) });
  });

  it('lifts the bans of a room that is no longer open', async () => {
    const { rooms } = await build({});
    const res = await call({ method: 'DELETE', url: '/admin/rooms/closed-room/bans' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ room: 'closed-room', lifted: 2 });
    expect(rooms.bans.clear).toHaveBeenCalledWith('closed-room');
  });

  it('lists bans with their kind, bare key and expiry, and lifts one by kind and key', async () => {
    const { banList } = await build({});
    banList.ban('other-room', ['ip:203.0.113.9'], 120_000);
    const all = await call({ url: '/admin/bans' });
    expect(all.statusCode).toBe(200);
    const expiresAt = expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(all.json()).toEqual({
      bans: [
        { room: 'other-room', kind: 'address', key: '203.0.113.9', expiresAt },
        { room: 'stage-1', kind: 'token', key: 'tok-1', expiresAt },
        { room: 'stage-1', kind: 'address', key: '198.51.100.7', expiresAt },
      ],
    });
    const one = (await call({ url: '/admin/bans?room=stage-1' })).json<{ bans: { key: string }[] }>();
    expect(one.bans.map((b) => b.key)).toEqual(['tok-1', '198.51.100.7']);

    // Lifting the token leaves the address ban: a client without the token stays out.
    expect((await call({ method: 'DELETE', url: '/admin/rooms/stage-1/bans/token/tok-1' })).json()).toEqual({ room: 'stage-1', lifted: 1 });
    expect(banList.isBanned('stage-1', ['tok:tok-1', 'ip:198.51.100.7'])).toBe(false);
    expect(banList.isBanned('stage-1', ['ip:198.51.100.7'])).toBe(true);
    const again = await call({ method: 'DELETE', url: '/admin/rooms/stage-1/bans/token/tok-1' });
    expect(again.statusCode).toBe(404);
    expect(again.json()).toEqual({ error: 'not-found', message: expect.stringContaining('GET /admin/bans?room=stage-1') });
    // An address with colons (IPv6), URL-encoded or not.
    banList.ban('stage-1', ['ip:2001:db8::7']);
    expect((await call({ method: 'DELETE', url: `/admin/rooms/stage-1/bans/address/${encodeURIComponent('2001:db8::7')}` })).statusCode).toBe(200);
    expect((await call({ method: 'DELETE', url: '/admin/rooms/stage-1/bans/address/198.51.100.7' })).statusCode).toBe(200);
    expect((await call({ url: '/admin/bans?room=stage-1' })).json()).toEqual({ bans: [] });

    for (const url of ['/admin/rooms/stage-1/bans/user/x', '/admin/bans?room=bad%20room']) {
      const res = await call({ method: url.startsWith('/admin/bans') ? 'GET' : 'DELETE', url });
      expect(res.statusCode, url).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad-request' });
    }
  });

  it('maps the room layer’s ProtocolError codes to HTTP statuses', async () => {
    const { room } = await build({});
    const cases: [ProtocolError, number][] = [
      [new ProtocolError('not-found', 'no peer x in this room'), 404],
      [new ProtocolError('forbidden', 'nope'), 403],
      [new ProtocolError('bad-request', 'bad'), 400],
      [new ProtocolError('invalid-state', 'busy'), 409],
      [new ProtocolError('media-unavailable', 'later'), 503],
      [new ProtocolError('server-busy', 'full'), 503],
    ];
    for (const [err, status] of cases) {
      room.moderation.kick.mockImplementationOnce(() => {
        throw err;
      });
      const res = await call({ method: 'POST', url: '/admin/rooms/stage-1/peers/vera/kick' });
      expect(res.statusCode).toBe(status);
      expect(res.json()).toEqual({ error: err.code, message: err.message });
    }
    room.chat.delete.mockImplementationOnce(() => {
      throw new ProtocolError('not-found', 'no message m in this room’s history');
    });
    expect((await call({ method: 'DELETE', url: '/admin/rooms/stage-1/chat/m' })).json()).toMatchObject({ error: 'not-found' });
  });

  it('hides internal errors behind a 500 without details', async () => {
    const { room } = await build({});
    room.chat.clear.mockImplementationOnce(() => {
      throw new Error('secret internals');
    });
    const res = await call({ method: 'DELETE', url: '/admin/rooms/stage-1/chat' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal', message: expect.not.stringContaining('secret') });
  });

  it('passes kick/ban/close/mute/chat operations to the room', async () => {
    const { room, host } = await build({});
    expect((await call({ method: 'POST', url: '/admin/rooms/stage-1/peers/vera/kick' })).json()).toEqual({ room: 'stage-1', peerId: 'vera', banned: false });
    expect(room.moderation.kick).toHaveBeenLastCalledWith('vera', { ban: false, reason: undefined });
    expect((await call({ method: 'POST', url: '/admin/rooms/stage-1/peers/vera/ban', payload: { reason: 'abuse' } })).json()).toEqual({
      room: 'stage-1',
      peerId: 'vera',
      banned: true,
    });
    expect(room.moderation.kick).toHaveBeenLastCalledWith('vera', { ban: true, reason: 'abuse' });
    expect((await call({ method: 'POST', url: '/admin/rooms/stage-1/peers/host/mute' })).json()).toEqual({ muted: 1 });
    expect(room.moderation.mute).toHaveBeenCalledWith(host);
    expect((await call({ method: 'DELETE', url: '/admin/rooms/stage-1/chat' })).json()).toEqual({ room: 'stage-1', seq: 7 });
    expect(room.chat.clear).toHaveBeenCalledWith();
    expect((await call({ method: 'DELETE', url: '/admin/rooms/stage-1/chat/msg-9' })).json()).toMatchObject({ messageId: 'msg-9' });
    expect(room.chat.delete).toHaveBeenCalledWith('msg-9');
    expect((await call({ method: 'DELETE', url: '/admin/rooms/stage-1?reason=maintenance' })).json()).toEqual({ room: 'stage-1', closed: true, peers: 2 });
    expect(room.close).toHaveBeenCalledWith('maintenance');
  });

  it('refuses malformed bodies with 400 and a message that names the problem', async () => {
    const { room, mintSpy } = await build({});
    const bad: [InjectOptions, RegExp][] = [
      [{ method: 'POST', url: '/admin/tokens', payload: { role: 'owner', room: 'r', name: 'n' } }, /body\/role must be equal to one of the allowed values/],
      [{ method: 'POST', url: '/admin/tokens', payload: { room: 'r', name: 'n' } }, /body must have required property 'role'/],
      [{ method: 'POST', url: '/admin/tokens', payload: { role: 'viewer', room: 'r', name: 'n', ttlSeconds: 59 } }, /ttlSeconds must be >= 60/],
      [{ method: 'POST', url: '/admin/tokens', payload: { role: 'viewer', room: 'r', name: 'n', ttlSeconds: 604801 } }, /ttlSeconds must be <= 604800/],
      [{ method: 'POST', url: '/admin/tokens', payload: { role: 'viewer', room: 'r', name: 'n', ttl: 60 } }, /unknown field "ttl"; allowed: role, room, name, ttlSeconds/],
      [{ method: 'POST', url: '/admin/tokens', payload: { role: 'viewer', room: '*', name: 'n' } }, /"\*" \(every room\) is for admin tokens only/],
      [{ method: 'POST', url: '/admin/tokens', payload: { role: 'viewer', room: 'r', name: ' \u200b ' } }, /name: name is empty/],
      [{ method: 'POST', url: '/admin/tokens', payload: '{"role":', headers: { 'content-type': 'application/json' } }, /not valid JSON/],
      [{ method: 'POST', url: '/admin/tokens', payload: [1, 2] }, /body must be object/],
      [{ method: 'POST', url: '/admin/rooms/stage-1/peers/vera/kick', payload: { reason: 'x'.repeat(201) } }, /reason must NOT have more than 200 characters/],
      [{ method: 'POST', url: '/admin/rooms/stage-1/peers/vera/ban', payload: { why: 'x' } }, /unknown field "why"/],
      [{ method: 'DELETE', url: '/admin/rooms/stage-1?reason=' }, /querystring\/reason/],
    ];
    for (const [req, message] of bad) {
      const res = await call(req);
      expect(res.statusCode, `${req.method} ${req.url} ${JSON.stringify(req.payload)}`).toBe(400);
      expect(res.json()).toEqual({ error: 'bad-request', message: expect.stringMatching(message) });
    }
    expect(room.moderation.kick).not.toHaveBeenCalled();
    expect(room.close).not.toHaveBeenCalled();
    expect(mintSpy).not.toHaveBeenCalled();
  });

  it('mints tokens that verify, with links on the public URL', async () => {
    await build({});
    const before = Math.floor(Date.now() / 1000);
    const res = await call({ method: 'POST', url: '/admin/tokens', payload: { role: 'publisher', room: 'stage-1', name: '  Alice ', ttlSeconds: 120 } });
    expect(res.statusCode).toBe(201);
    const body = res.json<{ token: string; expiresAt: string; role: string; room: string; name: string; links: { broadcast?: string; watch: string } }>();
    const grant = await tokens.verify(body.token);
    expect(grant).toMatchObject({ role: 'publisher', room: 'stage-1', name: 'Alice' });
    expect(grant.exp - before).toBeGreaterThanOrEqual(119);
    expect(grant.exp - before).toBeLessThanOrEqual(121);
    expect(body).toMatchObject({ role: 'publisher', room: 'stage-1', name: 'Alice', expiresAt: new Date(grant.exp * 1000).toISOString() });
    expect(body.links).toEqual({
      broadcast: `https://live.example.test/broadcast.html?room=stage-1&token=${body.token}`,
      // The shareable watch link does not leak the publisher's token.
      watch: 'https://live.example.test/watch.html?room=stage-1',
    });

    const viewer = (await call({ method: 'POST', url: '/admin/tokens', payload: { role: 'viewer', room: 'stage-1', name: 'Val' } })).json<typeof body>();
    expect((await tokens.verify(viewer.token)).exp - before).toBeGreaterThanOrEqual(3599); // default ttl
    expect(viewer.links).toEqual({ watch: `https://live.example.test/watch.html?room=stage-1&token=${viewer.token}` });

    const admin = (await call({ method: 'POST', url: '/admin/tokens', payload: { role: 'admin', room: '*', name: 'Ops' } })).json<typeof body>();
    expect(await tokens.verify(admin.token)).toMatchObject({ role: 'admin', room: '*' });
    expect(admin.links.broadcast).toBe(`https://live.example.test/broadcast.html?token=${admin.token}`);
  });

  it('falls back to the request origin for links without publicUrl', async () => {
    await build({ publicUrl: undefined });
    const res = await call({ method: 'POST', url: '/admin/tokens', headers: { host: 'node-3.internal:8080' }, payload: { role: 'viewer', room: 'r', name: 'n' } });
    expect(res.json<{ links: { watch: string } }>().links.watch).toMatch(/^http:\/\/node-3\.internal:8080\/watch\.html\?room=r&token=/);
  });

  it('reports workers with their resource usage, null for a dead one, and the binary they run', async () => {
    const binary = { path: '/opt/w/mediasoup-worker', origin: 'source', mediasoupVersion: '3.15.8', sha256: 'ab'.repeat(32), cacheKey: '3.15.8-debian-12-x86_64-nouring-0123456789abcdef' } as const;
    const workerBinary = vi.fn(() => binary);
    await build({ workerBinary });
    const res = await call({ url: '/admin/workers' });
    expect(workerBinary).toHaveBeenCalledTimes(1);
    expect(res.json()).toEqual({
      binary,
      workers: [
        { index: 0, pid: 1000, port: 40000, up: true, consumers: 0, routers: 1, transports: 2, cpu: 0.25, viewers: 0, packetBudget: 0, busy: false, responding: true, resourceUsage: { ru_utime: 120, ru_stime: 30, ru_maxrss: 51200 } },
        { index: 1, pid: 1001, port: 40001, up: false, consumers: 5, routers: 1, transports: 2, cpu: 0.25, viewers: 8, packetBudget: 0.1, busy: false, responding: false, resourceUsage: null },
      ],
    });
  });

  it('answers within the bound when a worker never answers, reporting it as not responding', async () => {
    const f = fakes();
    f.pool.workers[0]!.worker.getResourceUsage.mockImplementation(() => new Promise(() => undefined));
    await build({ workerBinary: () => ({ path: '/w', origin: 'unknown', mediasoupVersion: '3.15.8' }) }, f);
    const t0 = Date.now();
    const res = await call({ url: '/admin/workers' });
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(res.json<{ workers: unknown[] }>().workers[0]).toMatchObject({ index: 0, up: true, responding: false, resourceUsage: null });
  });

  it('describes mediasoup’s own worker binary when no workerBinary option is given', async () => {
    await build({});
    const res = await call({ url: '/admin/workers' });
    const { binary } = res.json<{ binary: Record<string, unknown> }>();
    // Whatever this machine has installed: the path mediasoup spawns, an origin from the enum.
    expect(binary).toEqual(await describeWorkerBinary(mediasoup.workerBin));
    expect(binary.path).toBe(mediasoup.workerBin);
    expect(['prebuilt', 'source', 'unknown']).toContain(binary.origin);
  });

  it('leaves out the optional binary fields it does not know', async () => {
    await build({ workerBinary: async () => ({ path: '/nowhere/mediasoup-worker', origin: 'unknown', mediasoupVersion: '3.15.8' }) });
    const res = await call({ url: '/admin/workers' });
    expect(res.json<{ binary: unknown }>().binary).toEqual({ path: '/nowhere/mediasoup-worker', origin: 'unknown', mediasoupVersion: '3.15.8' });
  });
});


describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.0 document listing every admin route with bearer security', async () => {
    await build({});
    const res = await app!.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json<{
      openapi: string;
      paths: Record<string, Record<string, { summary?: string; tags?: string[]; security?: unknown; parameters?: { in: string; name: string }[] }>>;
      components: { securitySchemes: Record<string, unknown>; schemas?: Record<string, unknown> };
    }>();
    const validate = openApi30Validator();
    expect(validate(doc), JSON.stringify(validate.errors, null, 1)).toBe(true);
    // The validator has teeth: JSON Schema `const` is not OpenAPI 3.0 (swagger must have turned it into enum).
    const broken = structuredClone(doc) as unknown as { paths: Record<string, { get: { responses: Record<string, { content: Record<string, { schema: unknown }> }> } }> };
    broken.paths['/health']!.get.responses['200']!.content['application/json']!.schema = { type: 'object', properties: { status: { const: 'ok' } } };
    expect(validate(broken)).toBe(false);
    expect(doc.openapi).toMatch(/^3\.0\./);
    expect(doc.components.securitySchemes.adminBearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    // The one error schema of the admin scope, shared by reference.
    expect(doc.components.schemas?.AdminError).toMatchObject({ type: 'object', required: ['error', 'message'] });
    const refs = [...JSON.stringify(doc.paths).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(refs)).toEqual(new Set(['AdminError']));

    const toOpenApi = (url: string) => url.replace(/:(\w+)/g, '{$1}');
    const expected = [
      ['get', '/admin/rooms'],
      ['get', '/admin/rooms/:room'],
      ['delete', '/admin/rooms/:room'],
      ['post', '/admin/rooms/:room/peers/:peerId/kick'],
      ['post', '/admin/rooms/:room/peers/:peerId/ban'],
      ['post', '/admin/rooms/:room/peers/:peerId/mute'],
      ['delete', '/admin/rooms/:room/bans'],
      ['delete', '/admin/rooms/:room/bans/:kind/:key'],
      ['get', '/admin/bans'],
      ['delete', '/admin/rooms/:room/chat'],
      ['delete', '/admin/rooms/:room/chat/:messageId'],
      ['get', '/admin/workers'],
      ['get', '/admin/cluster'],
      ['post', '/admin/tokens'],
      ['get', '/admin/rooms/:room/invitations'],
      ['delete', '/admin/rooms/:room/invitations/:invitationId'],
      ['post', '/admin/rooms/:room/peers/:peerId/audience'],
      ['get', '/admin/calls'],
      ['delete', '/admin/calls/:callId'],
    ] as const;
    const listed = Object.entries(doc.paths).flatMap(([p, ops]) => (p.startsWith('/admin') ? Object.keys(ops).map((m) => `${m} ${p}`) : []));
    expect(listed.sort()).toEqual(expected.map(([m, p]) => `${m} ${toOpenApi(p)}`).sort());
    for (const [m, p] of expected) {
      const op = doc.paths[toOpenApi(p)]![m]!;
      expect(op.summary, p).toBeTruthy();
      expect(op.tags).toEqual(['admin']);
      expect(op.security).toEqual([{ adminBearer: [] }]);
      const pathParams = [...p.matchAll(/:(\w+)/g)].map((x) => x[1]);
      expect(op.parameters?.filter((x) => x.in === 'path').map((x) => x.name) ?? [], p).toEqual(pathParams);
    }
    // The other routes with schemas are there too; the document itself is not.
    for (const p of ['/health', '/ready', '/api/turn', '/metrics']) expect(doc.paths[p], p).toBeDefined();
    expect(doc.paths['/openapi.json']).toBeUndefined();
  });
});
