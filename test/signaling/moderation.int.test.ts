import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fourcast } from '../../src/server.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient, errorCode } from '../helpers/wsClient.js';

// One node behind a "proxy" on loopback (TRUST_PROXY=127.0.0.1): each test speaks for its
// own client addresses through X-Forwarded-For, as a reverse proxy would.
const ADMIN = 'moderation-admin-token-0123';

describe('durable bans and close reasons (real node)', () => {
  let node: Fourcast;
  const url = (q: string) => `${node.urls.ws}?${q}`;
  const from = (address: string) => ({ 'x-forwarded-for': address });
  const refused = (p: Promise<unknown>) => p.then(() => ({ status: 101, body: {} }), (e: { status: number; body: { error: string } }) => e);
  const access = async (body: object, address: string) => {
    const res = await fetch(`${node.urls.http}/api/access`, { method: 'POST', headers: { 'content-type': 'application/json', ...from(address) }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  };
  const roomClosed = async (room: string) => {
    for (let i = 0; i < 200 && node.rooms.get(room); i++) await new Promise((r) => setTimeout(r, 20));
    expect(node.rooms.get(room)).toBeUndefined();
  };

  beforeAll(async () => {
    node = await startTestNode({ MEDIASOUP_WORKERS: '1', TRUST_PROXY: '127.0.0.1', ROOM_GRACE_SECONDS: '0', ADMIN_TOKEN: ADMIN });
  });
  afterAll(async () => node?.close());

  it('a banned anonymous viewer stays out after the room closes and reopens', async () => {
    const host = await TestClient.connect(url(`room=ban-a&token=${await node.tokens.mint({ role: 'publisher', room: 'ban-a', name: 'Host', ttlSeconds: 600 })}`), from('198.51.100.1'));
    await host.request('join', {});
    const viewer = await TestClient.connect(url('room=ban-a'), from('198.51.100.66'));
    const { peerId } = await viewer.request('join', { name: 'Troll' });
    await host.request('ban', { peerId });
    expect((await viewer.closed).code).toBe(4003);

    host.close();
    await roomClosed('ban-a');
    // The room is gone; the ban is not: neither the upgrade nor POST /api/access let them in.
    const again = await refused(TestClient.connect(url('room=ban-a'), from('198.51.100.66')));
    expect(again).toMatchObject({ status: 403, body: { error: 'banned' } });
    expect(await access({ room: 'ban-a' }, '198.51.100.66')).toMatchObject({ status: 403, body: { error: 'banned' } });
    // Another address, and another room, are not affected.
    const other = await TestClient.connect(url('room=ban-a'), from('198.51.100.67'));
    await other.request('join', {});
    other.close();
    const elsewhere = await TestClient.connect(url('room=ban-b'), from('198.51.100.66'));
    await elsewhere.request('join', {});
    elsewhere.close();
    // An operator lifts the room's bans (the room need not be open): they are back in.
    const lift = await fetch(`${node.urls.http}/admin/rooms/ban-a/bans`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(await lift.json()).toEqual({ room: 'ban-a', lifted: 1 });
    const back = await TestClient.connect(url('room=ban-a'), from('198.51.100.66'));
    await back.request('join', {});
    back.close();
  });

  it('a banned token holder cannot come back without the token from the same address', async () => {
    const admin = await TestClient.connect(url(`room=ban-t&token=${await node.tokens.mint({ role: 'admin', room: '*', name: 'Admin', ttlSeconds: 600 })}`), from('198.51.100.2'));
    await admin.request('join', {});
    const holder = await TestClient.connect(url(`room=ban-t&token=${await node.tokens.mint({ role: 'viewer', room: 'ban-t', name: 'Tok', ttlSeconds: 600 })}`), from('198.51.100.77'));
    const { peerId } = await holder.request('join', {});
    await admin.request('ban', { peerId });
    expect((await holder.closed).code).toBe(4003);
    expect(await refused(TestClient.connect(url('room=ban-t'), from('198.51.100.77')))).toMatchObject({ status: 403, body: { error: 'banned' } });
    // A host whose token is not banned gets in from that address (a shared NAT is no lockout for token holders).
    const host = await TestClient.connect(url(`room=ban-t&token=${await node.tokens.mint({ role: 'publisher', room: 'ban-t', name: 'Host', ttlSeconds: 600 })}`), from('198.51.100.77'));
    await host.request('join', {});
    for (const c of [host, admin]) c.close();
  });

  it('believes X-Forwarded-For only from the trusted proxy: a ban is per client, not per proxy', async () => {
    const host = await TestClient.connect(url(`room=ban-p&token=${await node.tokens.mint({ role: 'publisher', room: 'ban-p', name: 'Host', ttlSeconds: 600 })}`));
    await host.request('join', {});
    // Behind the proxy: banning one viewer leaves the others (other forwarded addresses) in.
    const troll = await TestClient.connect(url('room=ban-p'), from('203.0.113.9'));
    const { peerId } = await troll.request('join', {});
    await host.request('ban', { peerId });
    await troll.closed;
    const fine = await TestClient.connect(url('room=ban-p'), from('203.0.113.10'));
    await fine.request('join', {});
    // A client that appends its own header after the proxy's gets the proxy's view: the last
    // untrusted hop, which is the address the proxy saw (203.0.113.9), still banned.
    expect(await refused(TestClient.connect(url('room=ban-p'), from('192.0.2.1, 203.0.113.9')))).toMatchObject({ status: 403 });
    for (const c of [host, fine]) c.close();
  });

  it('a kick with a long multibyte reason closes cleanly: code, valid reason, closing notification', async () => {
    const host = await TestClient.connect(url(`room=kick-r&token=${await node.tokens.mint({ role: 'publisher', room: 'kick-r', name: 'Host', ttlSeconds: 600 })}`), from('198.51.100.3'));
    await host.request('join', {});
    const viewer = await TestClient.connect(url('room=kick-r'), from('198.51.100.88'));
    const { peerId } = await viewer.request('join', {});
    const reason = 'Déjà vu 🚫 '.repeat(18); // 198 UTF-16 units, 252 bytes: past the 123-byte close reason
    expect(Buffer.byteLength(reason)).toBeGreaterThan(123);
    await host.request('kick', { peerId, reason });
    const closed = await viewer.closed;
    // The `ws` client fails an invalid UTF-8 reason with 1007/1006: a clean 4001 means it was cut on a character boundary.
    expect(closed.code).toBe(4001);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
    expect(closed.reason.endsWith('…')).toBe(true);
    expect(reason.startsWith(closed.reason.slice(0, -1))).toBe(true);
    expect(viewer.notifications).toContainEqual({ method: 'closing', data: { reason, code: 'kicked' } });
    host.close();
  });

  it('kicking without a ban lets the person back in', async () => {
    const host = await TestClient.connect(url(`room=kick-b&token=${await node.tokens.mint({ role: 'publisher', room: 'kick-b', name: 'Host', ttlSeconds: 600 })}`), from('198.51.100.4'));
    await host.request('join', {});
    const viewer = await TestClient.connect(url('room=kick-b'), from('198.51.100.99'));
    const { peerId } = await viewer.request('join', {});
    await host.request('kick', { peerId });
    await viewer.closed;
    const back = await TestClient.connect(url('room=kick-b'), from('198.51.100.99'));
    expect(await errorCode(back.request('join', {}))).toBe('ok');
    for (const c of [host, back]) c.close();
  });
});
