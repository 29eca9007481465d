import { roomName, type Role } from '../protocol/messages.js';
import { TokenError, type TokenService } from './tokens.js';

/**
 * Who may enter which room, decided from a link's `room` and `token`. The
 * WebSocket upgrade and `POST /api/access` share it: a browser cannot read the
 * status of a refused upgrade, so a page whose socket was refused asks the
 * same question over HTTP and shows the person the answer.
 */

export interface AccessGrant {
  role: Role;
  room: string;
  name: string | undefined;
  tokenId: string | undefined;
  /** What a ban of this participant applies to: the token, or the address of an anonymous viewer. */
  banKeys: string[];
}

export type RefusalCode = 'bad-request' | 'token-invalid' | 'token-expired' | 'token-required' | 'forbidden' | 'banned' | 'draining' | 'too-many-connections';

/** A refused entry: HTTP status, a stable code and a message that says what to do. */
export class AccessRefused extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 429 | 503,
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'AccessRefused';
  }
}

export interface AccessPolicy {
  tokens: TokenService;
  allowAnonymousViewers: boolean;
  isDraining: () => boolean;
  isBanned: (room: string, banKeys: string[]) => boolean;
  /** This address holds as many signaling connections as it may (WS_MAX_CONNECTIONS_PER_ADDRESS). */
  connectionsFull?: (remote: string) => boolean;
}

const ASK = 'Ask the host for a new link.';

export async function authorise(link: { room: string | null; token: string | null; remote: string }, policy: AccessPolicy): Promise<AccessGrant> {
  if (policy.isDraining()) throw new AccessRefused(503, 'draining', 'This server is shutting down; try again in a few seconds.');
  if (policy.connectionsFull?.(link.remote)) {
    throw new AccessRefused(429, 'too-many-connections', 'Too many connections from your network address; close other tabs of this site and try again.');
  }
  const room = link.room === null ? undefined : roomName.safeParse(link.room);
  if (room && !room.success) throw new AccessRefused(400, 'bad-request', `The link's room is invalid: ${room.error.issues[0]?.message ?? 'bad name'}.`);

  let grant: Omit<AccessGrant, 'banKeys'>;
  if (link.token) {
    let claims;
    try {
      claims = await policy.tokens.verify(link.token);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      throw err.code === 'token-expired'
        ? new AccessRefused(401, 'token-expired', `This link has expired. ${ASK}`)
        : new AccessRefused(401, 'token-invalid', `This link's token is not valid here (altered, or signed by another server). ${ASK}`);
    }
    if (claims.room === '*') {
      if (claims.role !== 'admin') throw new AccessRefused(403, 'forbidden', 'Only admin tokens may name every room.');
      if (!room?.success) throw new AccessRefused(400, 'bad-request', 'An admin token needs ?room= in the link.');
      grant = { role: claims.role, room: room.data, name: claims.name, tokenId: claims.jti };
    } else {
      if (room?.success && room.data !== claims.room) throw new AccessRefused(403, 'forbidden', `This link's token is for room "${claims.room}", not "${room.data}". ${ASK}`);
      grant = { role: claims.role, room: claims.room, name: claims.name, tokenId: claims.jti };
    }
  } else {
    if (!room?.success) throw new AccessRefused(400, 'bad-request', 'The link names no room (?room=).');
    if (!policy.allowAnonymousViewers) throw new AccessRefused(401, 'token-required', `This server admits only people with an access token. ${ASK}`);
    grant = { role: 'viewer', room: room.data, name: undefined, tokenId: undefined };
  }
  // A ban applies to the token and to the address (so the holder cannot come back without
  // the token); whether a client is banned is judged by its token when it has one (BanList).
  const banKeys = grant.tokenId ? [`tok:${grant.tokenId}`, `ip:${link.remote}`] : [`ip:${link.remote}`];
  if (policy.isBanned(grant.room, banKeys)) throw new AccessRefused(403, 'banned', 'You are banned from this room.');
  return { ...grant, banKeys };
}
