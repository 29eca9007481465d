import { describe, expect, it } from 'vitest';
import { BanList, banKey, parseBanKey, type BanChange } from '../../src/moderation/banList.js';

describe('BanList: listing and lifting (admin)', () => {
  it('lists bans in force by room then expiry, with kind and bare key, and forgets expired ones', () => {
    let now = 1_000;
    const bans = new BanList(60_000, () => now);
    bans.ban('stage', ['tok:abc', 'ip:198.51.100.1']);
    bans.ban('stage', ['ip:203.0.113.5'], 10_000);
    bans.ban('lobby', ['ip:2001:db8::1'], 30_000);
    expect(bans.list()).toEqual([
      { room: 'lobby', kind: 'address', key: '2001:db8::1', expiresAt: 31_000 },
      { room: 'stage', kind: 'address', key: '203.0.113.5', expiresAt: 11_000 },
      { room: 'stage', kind: 'token', key: 'abc', expiresAt: 61_000 },
      { room: 'stage', kind: 'address', key: '198.51.100.1', expiresAt: 61_000 },
    ]);
    expect(bans.list('lobby')).toHaveLength(1);
    expect(bans.list('nowhere')).toEqual([]);
    now = 11_000;
    expect(bans.list('stage').map((b) => b.key)).toEqual(['abc', '198.51.100.1']);
  });

  it('lifts one key of a room, and only that one', () => {
    let now = 0;
    const bans = new BanList(60_000, () => now);
    bans.ban('stage', ['tok:abc', 'ip:198.51.100.1']);
    bans.ban('other', ['tok:abc']);
    expect(bans.lift('stage', 'tok:abc')).toBe(true);
    expect(bans.lift('stage', 'tok:abc')).toBe(false);
    // The token is back in; the address without a token still is not; other rooms keep theirs.
    expect(bans.isBanned('stage', ['tok:abc', 'ip:198.51.100.1'])).toBe(false);
    expect(bans.isBanned('stage', ['ip:198.51.100.1'])).toBe(true);
    expect(bans.isBanned('other', ['tok:abc'])).toBe(true);
    expect(bans.lift('stage', 'ip:198.51.100.1')).toBe(true);
    expect(bans.list('stage')).toEqual([]);
    // An expired ban not yet swept is not "lifted".
    bans.ban('stage', ['ip:203.0.113.5'], 1_000);
    now = 2_000;
    expect(bans.lift('stage', 'ip:203.0.113.5')).toBe(false);
  });

  it('clear counts only the bans in force', () => {
    let now = 0;
    const bans = new BanList(60_000, () => now);
    bans.ban('stage', ['ip:198.51.100.1'], 1_000);
    bans.ban('stage', ['ip:198.51.100.2']);
    now = 5_000;
    expect(bans.clear('stage')).toBe(1);
    expect(bans.clear('stage')).toBe(0);
  });

  it('builds and parses the stored keys', () => {
    expect(banKey('token', 'abc')).toBe('tok:abc');
    expect(banKey('address', '::1')).toBe('ip:::1');
    expect(parseBanKey('ip:::1')).toEqual({ kind: 'address', key: '::1' });
    expect(parseBanKey('tok:abc')).toEqual({ kind: 'token', key: 'abc' });
  });
});

describe('BanList: bans in force', () => {
  it('bans per room until the ban expires', () => {
    let now = 1_000;
    const bans = new BanList(60_000, () => now);
    bans.ban('stage', ['ip:198.51.100.1']);
    expect(bans.isBanned('stage', ['ip:198.51.100.1'])).toBe(true);
    expect(bans.isBanned('other', ['ip:198.51.100.1'])).toBe(false);
    now += 59_999;
    expect(bans.isBanned('stage', ['ip:198.51.100.1'])).toBe(true);
    now += 1;
    expect(bans.isBanned('stage', ['ip:198.51.100.1'])).toBe(false);
    expect(bans.size).toBe(0);
  });

  it('judges a token holder by its token, a client without one by its address', () => {
    const bans = new BanList(60_000);
    // A token holder was banned: its token and its address.
    bans.ban('stage', ['tok:abc', 'ip:198.51.100.1']);
    expect(bans.isBanned('stage', ['tok:abc', 'ip:198.51.100.9'])).toBe(true);
    // Without the token, from that address: still out.
    expect(bans.isBanned('stage', ['ip:198.51.100.1'])).toBe(true);
    // Another token from that address (a host behind the same NAT): in.
    expect(bans.isBanned('stage', ['tok:host', 'ip:198.51.100.1'])).toBe(false);
  });

  it('keeps the longer of two bans, and a room view sees only its room', () => {
    let now = 0;
    const bans = new BanList(1_000, () => now);
    bans.ban('a', ['ip:x'], 10_000);
    bans.ban('a', ['ip:x']);
    now = 5_000;
    const a = bans.forRoom('a');
    expect(a.isBanned(['ip:x'])).toBe(true);
    bans.forRoom('b').ban(['ip:y']);
    expect(a.isBanned(['ip:y'])).toBe(false);
    expect(bans.clear('a')).toBe(1);
    expect(a.isBanned(['ip:x'])).toBe(false);
  });
});

describe('BanList: as a replica (watch, apply, replaceAll)', () => {
  it('tells watchers of ban, lift and clear, with each key resulting expiry', () => {
    let now = 1_000;
    const bans = new BanList(60_000, () => now);
    const seen: BanChange[] = [];
    const stop = bans.watch((c) => seen.push(c));
    bans.ban('stage', ['ip:x'], 10_000);
    bans.ban('stage', ['ip:x', 'tok:a'], 5_000);
    bans.lift('stage', 'tok:a');
    // Told even when this list has no such ban: another node's copy may.
    bans.lift('stage', 'tok:unknown');
    bans.clear('lobby');
    bans.ban('stage', []);
    expect(seen).toEqual([
      { type: 'ban', room: 'stage', bans: { 'ip:x': 11_000 } },
      { type: 'ban', room: 'stage', bans: { 'ip:x': 11_000, 'tok:a': 6_000 } },
      { type: 'lift', room: 'stage', key: 'tok:a' },
      { type: 'lift', room: 'stage', key: 'tok:unknown' },
      { type: 'clear', room: 'lobby' },
    ]);
    stop();
    now = 2_000;
    bans.ban('stage', ['ip:y']);
    expect(seen).toHaveLength(5);
  });

  it('applies changes from elsewhere without telling watchers, keeping the longer ban', () => {
    const bans = new BanList(60_000, () => 0);
    const seen: BanChange[] = [];
    bans.watch((c) => seen.push(c));
    bans.apply({ type: 'ban', room: 'stage', bans: { 'ip:x': 10_000, 'tok:a': 5_000, 'ip:old': 0 } });
    bans.apply({ type: 'ban', room: 'stage', bans: { 'ip:x': 3_000 } });
    expect(bans.list('stage').map((b) => [b.key, b.expiresAt])).toEqual([
      ['a', 5_000],
      ['x', 10_000],
    ]);
    bans.apply({ type: 'lift', room: 'stage', key: 'tok:a' });
    expect(bans.isBanned('stage', ['tok:a'])).toBe(false);
    bans.apply({ type: 'clear', room: 'stage' });
    expect(bans.size).toBe(0);
    bans.apply({ type: 'lift', room: 'nowhere', key: 'ip:x' });
    expect(seen).toEqual([]);
  });

  it('replaceAll makes the list exactly the given bans, dropping expired ones', () => {
    let now = 1_000;
    const bans = new BanList(60_000, () => now);
    bans.ban('stage', ['ip:x']);
    bans.ban('lobby', ['ip:y']);
    const seen: BanChange[] = [];
    bans.watch((c) => seen.push(c));
    bans.replaceAll(
      new Map<string, Record<string, number>>([
        ['stage', { 'tok:a': 5_000, 'ip:gone': 500 }],
        ['empty', { 'ip:gone': 1_000 }],
      ]),
    );
    expect(bans.list()).toEqual([{ room: 'stage', kind: 'token', key: 'a', expiresAt: 5_000 }]);
    expect(bans.isBanned('lobby', ['ip:y'])).toBe(false);
    expect(seen).toEqual([]);
    now = 5_000;
    expect(bans.size).toBe(0);
  });
});
