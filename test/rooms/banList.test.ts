import { describe, expect, it } from 'vitest';
import { BanList } from '../../src/moderation/banList.js';

describe('BanList', () => {
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
