/**
 * Bans of one node, kept apart from rooms so a ban outlives the room it was made in
 * (a room closes when it empties; the banned person would otherwise walk back in when
 * it reopens). Keyed by room, then by what the ban applies to: `tok:<token id>` or
 * `ip:<client address>`. Each ban expires; expired ones are forgotten on the next sweep.
 *
 * In a cluster the list is one node's replica (cluster/bans.ts): changes made here through
 * `ban`/`lift`/`clear` reach the listeners of `watch`; changes from elsewhere come in
 * through `apply`/`replaceAll`, which do not notify (they must not echo back).
 */
export class BanList {
  private readonly rooms = new Map<string, Map<string, number>>();
  private readonly listeners = new Set<(change: BanChange) => void>();
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
    const result: Record<string, number> = {};
    for (const k of keys) {
      const v = Math.max(until, bans.get(k) ?? 0);
      bans.set(k, v);
      result[k] = v;
    }
    if (keys.length) this.notify({ type: 'ban', room, bans: result });
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
    // Told even when this list held none: another node's copy may.
    this.notify({ type: 'clear', room });
    return n;
  }

  /** Lifts one ban of `room` (`tok:<id>` or `ip:<address>`); false when none was in force. */
  lift(room: string, key: string): boolean {
    const until = this.rooms.get(room)?.get(key);
    this.remove(room, key);
    this.notify({ type: 'lift', room, key });
    return until !== undefined && until > this.now();
  }

  /**
   * Calls `listener` after each change made through `ban`, `lift` or `clear` (not
   * `apply`/`replaceAll`). Returns the function that stops it.
   */
  watch(listener: (change: BanChange) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * A change made elsewhere (another node), applied without telling the listeners. A ban
   * keeps the longer of the two expiries, as `ban` does.
   */
  apply(change: BanChange): void {
    if (change.type === 'clear') this.rooms.delete(change.room);
    else if (change.type === 'lift') this.remove(change.room, change.key);
    else this.merge(change.room, change.bans);
  }

  /**
   * Makes the list exactly `rooms` (room → ban key → expiry), without telling the
   * listeners: a replica reloading the cluster's bans. Expired entries are dropped.
   */
  replaceAll(rooms: ReadonlyMap<string, Readonly<Record<string, number>>>): void {
    this.rooms.clear();
    for (const [room, bans] of rooms) this.merge(room, bans);
  }

  private merge(room: string, incoming: Readonly<Record<string, number>>): void {
    const now = this.now();
    let bans = this.rooms.get(room);
    for (const [k, until] of Object.entries(incoming)) {
      if (!(until > now)) continue;
      if (!bans) this.rooms.set(room, (bans = new Map()));
      bans.set(k, Math.max(until, bans.get(k) ?? 0));
    }
  }

  private remove(room: string, key: string): void {
    const bans = this.rooms.get(room);
    if (!bans?.delete(key)) return;
    if (bans.size === 0) this.rooms.delete(room);
  }

  private notify(change: BanChange): void {
    for (const l of this.listeners) l(change);
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

/**
 * One change to a ban list. A ban carries each key's resulting expiry (ms since the
 * epoch), so it can be applied anywhere with the longer-ban-wins rule.
 */
export type BanChange =
  | { type: 'ban'; room: string; bans: Record<string, number> }
  | { type: 'lift'; room: string; key: string }
  | { type: 'clear'; room: string };

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
