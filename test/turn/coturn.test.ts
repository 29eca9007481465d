import { describe, expect, it } from 'vitest';
import { coturnCredentials, PEER_KEY_PATTERN } from '../../src/turn/coturn.js';

describe('coturnCredentials', () => {
  const cfg = { secret: 'fourcast-test-secret', urls: ['turn:turn.example.test:3478?transport=udp', 'turn:turn.example.test:3478?transport=tcp'] };

  it('signs expiry:peer with HMAC-SHA1 of the static auth secret', () => {
    const creds = coturnCredentials(cfg, ['stun:turn.example.test:3478'], 'alice', 600, 1_700_000_000_500);
    // Expected credential computed independently:
    //   printf %s "1700000600:alice" | openssl dgst -sha1 -hmac fourcast-test-secret -binary | base64
    expect(creds).toEqual({
      provider: 'coturn',
      ttl: 600,
      iceServers: [
        { urls: ['stun:turn.example.test:3478'] },
        { urls: cfg.urls, username: '1700000600:alice', credential: 'Gtcjq3Ddldj+ZNy8BDVqBPfQ1HU=' },
      ],
    });
  });

  it('omits the STUN entry when no STUN URL is configured', () => {
    const creds = coturnCredentials(cfg, [], 'bob', 60, 0);
    expect(creds.iceServers).toHaveLength(1);
    expect(creds.iceServers[0]?.username).toBe('60:bob');
  });

  it('refuses a peer key coturn would misread', () => {
    for (const bad of ['', 'a:b', 'x'.repeat(65), 'caf\u00e9', 'a b']) {
      expect(PEER_KEY_PATTERN.test(bad)).toBe(false);
      expect(() => coturnCredentials(cfg, [], bad, 60, 0)).toThrow(RangeError);
    }
  });
});
