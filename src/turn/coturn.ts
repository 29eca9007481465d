import { createHmac } from 'node:crypto';
import type { TurnCredentials } from './types.js';

/**
 * The user part of a coturn REST username. coturn splits the username at the
 * first ':' (expiry:user), so the user part must not contain one; the same
 * pattern validates the `peer` query of GET /api/turn.
 */
export const PEER_KEY_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface CoturnConfig {
  secret: string;
  urls: readonly string[];
}

/**
 * Time-limited credentials for coturn's `use-auth-secret` mode (the "TURN REST
 * API" draft): username `${expiryUnix}:${peerKey}`, password
 * base64(HMAC-SHA1(static-auth-secret, username)). coturn recomputes the HMAC,
 * so nothing is stored and any node holding the secret can issue them.
 */
export function coturnCredentials(
  cfg: CoturnConfig,
  stunUrls: readonly string[],
  peerKey: string,
  ttlSeconds: number,
  nowMs: number,
): TurnCredentials {
  if (!PEER_KEY_PATTERN.test(peerKey)) throw new RangeError(`invalid peer key for coturn: ${JSON.stringify(peerKey)}`);
  const username = `${Math.floor(nowMs / 1000) + ttlSeconds}:${peerKey}`;
  const credential = createHmac('sha1', cfg.secret).update(username).digest('base64');
  return {
    iceServers: [...(stunUrls.length ? [{ urls: [...stunUrls] }] : []), { urls: [...cfg.urls], username, credential }],
    ttl: ttlSeconds,
    provider: 'coturn',
  };
}
