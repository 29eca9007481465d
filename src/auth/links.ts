import { displayName, roomName } from '../protocol/messages.js';
import { roles, type Role } from '../protocol/messages.js';

/** Lifetimes an operator may give a minted token: one minute to one week. */
export const TOKEN_TTL = { min: 60, max: 7 * 24 * 3600, default: 3600 } as const;

export interface GrantRequest {
  role: Role;
  room: string;
  name: string;
  ttlSeconds: number;
}

/**
 * Checks what an operator asks to mint (admin API and token CLI alike).
 * Returns the grant with its display name normalised as the protocol does, or
 * the first problem in words.
 */
export function checkGrantRequest(req: { role: string; room: string; name: string; ttlSeconds: number }): { ok: true; grant: GrantRequest } | { ok: false; message: string } {
  if (!(roles as readonly string[]).includes(req.role)) return { ok: false, message: `role must be one of ${roles.join(', ')}` };
  const role = req.role as Role;
  if (req.room === '*') {
    if (role !== 'admin') return { ok: false, message: 'room "*" (every room) is for admin tokens only' };
  } else if (!roomName.safeParse(req.room).success) {
    return { ok: false, message: 'room must be 1-64 letters, digits, _ or - (or "*" for an admin token)' };
  }
  const name = displayName.safeParse(req.name);
  if (!name.success) return { ok: false, message: `name: ${name.error.issues[0]?.message ?? 'invalid'}` };
  if (!Number.isInteger(req.ttlSeconds) || req.ttlSeconds < TOKEN_TTL.min || req.ttlSeconds > TOKEN_TTL.max) {
    return { ok: false, message: `ttlSeconds must be a whole number from ${TOKEN_TTL.min} to ${TOKEN_TTL.max}` };
  }
  return { ok: true, grant: { role, room: req.room, name: name.data, ttlSeconds: req.ttlSeconds } };
}

/**
 * The pages a token opens: the broadcast page for roles that may publish,
 * the watch page for everyone. A `*` (every room) admin token names no room:
 * the page's own default applies until `&room=` is added.
 */
export function accessLinks(baseUrl: string, grant: { role: Role; room: string }, token: string): { broadcast?: string; watch: string } {
  const base = baseUrl.replace(/\/+$/, '');
  const q = new URLSearchParams();
  if (grant.room !== '*') q.set('room', grant.room);
  q.set('token', token);
  const withToken = q.toString();
  // Publisher tokens stay private: the watch link to share carries no token.
  const watch = grant.role === 'publisher' ? `${base}/watch.html?room=${encodeURIComponent(grant.room)}` : `${base}/watch.html?${withToken}`;
  return grant.role === 'viewer' ? { watch } : { broadcast: `${base}/broadcast.html?${withToken}`, watch };
}
