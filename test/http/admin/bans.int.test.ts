import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../../src/server.js';
import { startTestNode } from '../../helpers/server.js';
import { TestClient } from '../../helpers/wsClient.js';

const ADMIN = 'admin-token-for-the-bans-test-99';

interface BanEntry {
  room: string;
  kind: 'token' | 'address';
  key: string;
  expiresAt: string;
}

/** Durable bans through the admin routes, against a real node: list, lift one, lift a room's. */
describe('admin bans (real node, real sockets)', () => {
  let node: Fourcast;
  const clients: TestClient[] = [];

  const admin = async <T = Record<string, unknown>>(method: string, path: string) => {
    const res = await fetch(`${node.urls.http}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
    return { status: res.status, body: (await res.json()) as T };
  };
  const connect = async (query: string) => {
    const c = await TestClient.connect(`${node.urls.ws}?${query}`);
    clients.push(c);
    return c;
  };
  /** The upgrade's answer: 101 when the socket opens, else the refusal. */
  const upgrade = (query: string) =>
    connect(query).then(
      () => ({ status: 101 }),
      (e: { status: number; body: { error: string } }) => ({ status: e.status, error: e.body.error }),
    );
  const bansOf = async (room: string) => (await admin<{ bans: BanEntry[] }>('GET', `/admin/bans?room=${room}`)).body.bans;

  beforeAll(async () => {
    // BAN_SECONDS long enough that nothing expires during the test.
    node = await startTestNode({ ADMIN_TOKEN: ADMIN, BAN_SECONDS: '600' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await node?.close();
  });

  it('lists a banned token holder (token and address), lifts the token ban, and the viewer rejoins with its token', async () => {
    const room = 'ban-token';
    const token = await node.tokens.mint({ role: 'viewer', room, name: 'Troll', ttlSeconds: 600 });
    const tokenId = (await node.tokens.verify(token)).jti;
    expect(tokenId).toBeTruthy();
    const troll = await connect(`room=${room}&token=${token}`);
    const { peerId } = await troll.request('join', {});
    const t0 = Date.now();
    expect(await admin('POST', `/admin/rooms/${room}/peers/${peerId}/ban`)).toEqual({ status: 200, body: { room, peerId, banned: true } });
    expect((await troll.closed).code).toBe(4003);

    const bans = await bansOf(room);
    expect(bans).toHaveLength(2);
    const byKind = new Map(bans.map((b) => [b.kind, b]));
    expect(byKind.get('token')).toMatchObject({ room, key: tokenId });
    expect(byKind.get('address')).toMatchObject({ room, key: expect.stringMatching(/127\.0\.0\.1$/) });
    for (const b of bans) {
      const expires = Date.parse(b.expiresAt);
      expect(expires - t0).toBeGreaterThan(590_000);
      expect(expires - t0).toBeLessThan(610_000);
    }
    // The node-wide list holds it too.
    expect((await admin<{ bans: BanEntry[] }>('GET', '/admin/bans')).body.bans).toEqual(expect.arrayContaining(bans));

    expect(await upgrade(`room=${room}&token=${token}`)).toEqual({ status: 403, error: 'banned' });
    // Without its token, from its address: out as well.
    expect(await upgrade(`room=${room}`)).toEqual({ status: 403, error: 'banned' });

    const tokenBan = byKind.get('token')!;
    expect(await admin('DELETE', `/admin/rooms/${room}/bans/token/${encodeURIComponent(tokenBan.key)}`)).toEqual({ status: 200, body: { room, lifted: 1 } });
    expect(await admin('DELETE', `/admin/rooms/${room}/bans/token/${encodeURIComponent(tokenBan.key)}`)).toMatchObject({ status: 404, body: { error: 'not-found' } });
    expect((await bansOf(room)).map((b) => b.kind)).toEqual(['address']);

    // Back in with its token; still out anonymously from the banned address.
    const back = await connect(`room=${room}&token=${token}`);
    await expect(back.request('join', {})).resolves.toMatchObject({ room, name: 'Troll' });
    expect(await upgrade(`room=${room}`)).toEqual({ status: 403, error: 'banned' });

    const address = byKind.get('address')!;
    expect(await admin('DELETE', `/admin/rooms/${room}/bans/address/${encodeURIComponent(address.key)}`)).toEqual({ status: 200, body: { room, lifted: 1 } });
    expect(await bansOf(room)).toEqual([]);
    const anon = await connect(`room=${room}`);
    await expect(anon.request('join', { name: 'Anon' })).resolves.toMatchObject({ room });
  });

  it('keeps an anonymous viewer’s ban after the room closes, lists it, and lifting the room’s bans lets it back', async () => {
    const room = 'ban-anon';
    const anon = await connect(`room=${room}`);
    const { peerId } = await anon.request('join', { name: 'Spammer' });
    expect((await admin('POST', `/admin/rooms/${room}/peers/${peerId}/ban`)).status).toBe(200);
    expect((await anon.closed).code).toBe(4003);
    // The room empties and closes; the ban stays.
    if (node.rooms.get(room)?.closed === false) expect((await admin('DELETE', `/admin/rooms/${room}`)).status).toBe(200);
    expect(node.rooms.get(room)?.closed ?? true).toBe(true);
    expect(await bansOf(room)).toEqual([{ room, kind: 'address', key: expect.stringMatching(/127\.0\.0\.1$/), expiresAt: expect.any(String) }]);
    expect(await upgrade(`room=${room}`)).toEqual({ status: 403, error: 'banned' });

    expect(await admin('DELETE', `/admin/rooms/${room}/bans`)).toEqual({ status: 200, body: { room, lifted: 1 } });
    expect(await bansOf(room)).toEqual([]);
    const again = await connect(`room=${room}`);
    await expect(again.request('join', { name: 'Spammer' })).resolves.toMatchObject({ room });
  });
});
