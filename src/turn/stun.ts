import type { TurnCredentials } from './types.js';

/** The last resort: public STUN only. Works for most peers, but not behind symmetric NATs. */
export function stunCredentials(stunUrls: readonly string[], ttlSeconds: number): TurnCredentials {
  return {
    iceServers: stunUrls.length ? [{ urls: [...stunUrls] }] : [],
    ttl: ttlSeconds,
    provider: 'stun',
  };
}
