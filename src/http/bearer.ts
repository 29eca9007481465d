import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 first so both sides have equal length and the comparison does not leak the token's length. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * A checker for `Authorization: Bearer <token>` headers against one secret,
 * compared in constant time. Throws for an empty secret: an empty token would
 * be a lock anyone can open.
 */
export function bearerChecker(token: string, what = 'bearer token'): (authorization: string | undefined) => boolean {
  if (token.length === 0) throw new RangeError(`${what} must not be empty; omit it to disable`);
  const expected = digest(token);
  return (authorization) => {
    const m = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    return m !== null && timingSafeEqual(digest(m[1]!), expected);
  };
}
