/**
 * Bans of one node, kept apart from rooms so a ban outlives the room it was made in
 * (a room closes when it empties; the banned person would otherwise walk back in when
 * it reopens). Keyed by room, then by what the ban applies to: `tok:<token id>` or
 * `ip:<client address>`. Each ban expires; expired ones are forgotten on the next sweep.
 */
export class BanList {
  private readonly rooms = new Map<string, Map<string, number>>();
  private nextSweep = 0;

  constructor(
    /** How long a ban lasts unless the caller says otherwise (BAN_SECONDS). */
    private readonly defaultMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bans every key in `room` until now + `ms`; a longer existing ban is kept. */
  ban(room: string, keys: readonly string[], ms = this.defaultMs): void {
    const until = this.now() + ms;
    let bans = this.rooms.get(room);
    if (!bans) this.rooms.set(room, (bans = new Map()));
    for (const k of keys) bans.set(k, Math.max(until, bans.get(k) ?? 0));
  }

  /**
   * Is a client with these keys banned from `room`? A token holder is judged by its
   * token alone (a host behind the same NAT as a banned viewer still gets in); a client
   * without a token by its address (which is also banned when a token holder is, so
   * dropping the token does not get them back in).
   */
  isBanned(room: string, keys: readonly string[]): boolean {
    this.sweep();
    const bans = this.rooms.get(room);
    if (!bans) return false;
    const tokens = keys.filter((k) => k.startsWith('tok:'));
    const now = this.now();
    return (tokens.length ? tokens : keys).some((k) => (bans.get(k) ?? 0) > now);
  }

  /** Lifts every ban of `room` (admin), returning how many were in force. */
  clear(room: string): number {
    const n = this.list(room).length;
    this.rooms.delete(room);
    return n;
  }

  /** Lifts one ban of `room` (`tok:<id>` or `ip:<address>`); false when none was in force. */
  lift(room: string, key: string): boolean {
    const bans = this.rooms.get(room);
    const until = bans?.get(key);
    if (!bans || until === undefined) return false;
    bans.delete(key);
    if (bans.size === 0) this.rooms.delete(room);
    return until > this.now();
  }

  /** Bans in force, of one room or of all, ordered by room, then by expiry. */
  list(room?: string): Ban[] {
    this.sweep(true);
    const out: Ban[] = [];
    for (const [r, bans] of this.rooms) {
      if (room !== undefined && r !== room) continue;
      for (const [key, until] of bans) out.push({ room: r, ...parseBanKey(key), expiresAt: until });
    }
    return out.sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : a.expiresAt - b.expiresAt));
  }

  /** Bans in force, across rooms. */
  get size(): number {
    this.sweep(true);
    let n = 0;
    for (const bans of this.rooms.values()) n += bans.size;
    return n;
  }

  /** This room's ban store, for a Room that only knows its own. */
  forRoom(room: string): RoomBans {
    return { ban: (keys) => this.ban(room, keys), isBanned: (keys) => this.isBanned(room, keys) };
  }

  // At most once a minute: the map does not grow with every ban ever made.
  private sweep(force = false): void {
    const now = this.now();
    if (!force && now < this.nextSweep) return;
    this.nextSweep = now + 60_000;
    for (const [room, bans] of this.rooms) {
      for (const [k, until] of bans) if (until <= now) bans.delete(k);
      if (bans.size === 0) this.rooms.delete(room);
    }
  }
}

/** What a Room sees of the ban list: its own room's bans. */
export interface RoomBans {
  ban(keys: readonly string[]): void;
  isBanned(keys: readonly string[]): boolean;
}

/** What a ban applies to: an access token (by its id) or a client address. */
export type BanKind = 'token' | 'address';

/** One ban in force, as the admin routes show it. */
export interface Ban {
  room: string;
  kind: BanKind;
  /** The token id (`jti`) or the address, without the `tok:`/`ip:` prefix. */
  key: string;
  /** ms since the epoch. */
  expiresAt: number;
}

const PREFIX: Record<BanKind, string> = { token: 'tok:', address: 'ip:' };

/** The key a ban of this kind is stored under (`tok:<token id>`, `ip:<address>`). */
export function banKey(kind: BanKind, key: string): string {
  return PREFIX[kind] + key;
}

/** The kind and bare key of a stored ban key; anything not a token is an address. */
export function parseBanKey(stored: string): { kind: BanKind; key: string } {
  if (stored.startsWith(PREFIX.token)) return { kind: 'token', key: stored.slice(PREFIX.token.length) };
  return { kind: 'address', key: stored.startsWith(PREFIX.address) ? stored.slice(PREFIX.address.length) : stored };
}
