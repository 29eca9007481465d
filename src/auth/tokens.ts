import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, errors } from 'jose';
import { z } from 'zod';
import { roles, type Role } from '../protocol/messages.js';

/** What an access token grants: a role in one room (or every room, `*`, for admins), under a display name. */
export interface Grant {
  role: Role;
  room: string;
  name: string;
  /** Expiry, unix seconds. */
  exp: number;
  /** Token id: what a ban of a token holder applies to. */
  jti?: string | undefined;
}

const claimsSchema = z.object({
  role: z.enum(roles),
  room: z.string().min(1).max(64),
  name: z.string().min(1).max(64),
  exp: z.number().int(),
  jti: z.string().max(64).optional(),
});

export class TokenError extends Error {
  constructor(
    readonly code: 'token-expired' | 'token-invalid',
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

const ISSUER = 'fourcast';

/** Signs and verifies HS256 access tokens with the node's secret. */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(secret: string) {
    this.key = new TextEncoder().encode(secret);
  }

  async mint(grant: { role: Role; room: string; name: string; ttlSeconds: number }): Promise<string> {
    return new SignJWT({ role: grant.role, room: grant.room, name: grant.name })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(Math.floor(Date.now() / 1000) + grant.ttlSeconds)
      .sign(this.key);
  }

  async verify(token: string): Promise<Grant> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] });
      const parsed = claimsSchema.safeParse(payload);
      if (!parsed.success) throw new TokenError('token-invalid', 'token claims are malformed');
      return parsed.data;
    } catch (err) {
      if (err instanceof TokenError) throw err;
      if (err instanceof errors.JWTExpired) throw new TokenError('token-expired', 'token has expired');
      throw new TokenError('token-invalid', 'token signature or format is invalid');
    }
  }
}
