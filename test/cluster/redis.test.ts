import { describe, expect, it } from 'vitest';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { parseRedisUrl, reconnectDelay, redactRedisUrl, RedisUrlError } from '../../src/cluster/redis.js';

describe('parseRedisUrl', () => {
  it('reads host, port and database', () => {
    expect(parseRedisUrl('redis://127.0.0.1:7000/3')).toMatchObject({ host: '127.0.0.1', port: 7000, db: 3, tls: undefined });
    expect(parseRedisUrl('redis://localhost')).toMatchObject({ host: 'localhost', port: 6379, db: 0 });
    expect(parseRedisUrl('redis://[::1]:7001/')).toMatchObject({ host: '::1', port: 7001, db: 0 });
  });

  it('reads credentials and TLS', () => {
    expect(parseRedisUrl('rediss://app:p%40ss@redis.example.com:6380/1')).toMatchObject({
      host: 'redis.example.com',
      port: 6380,
      db: 1,
      username: 'app',
      password: 'p@ss',
      tls: {},
    });
  });

  it.each([
    ['not a url', /not a URL/],
    ['http://127.0.0.1:6379', /scheme "http:" is not supported/],
    ['redis://127.0.0.1:6379/zero', /database "zero" is not a number/],
    ['redis://127.0.0.1:6379/0?x=1', /no query string/],
  ])('refuses %s with what a valid URL looks like', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(RedisUrlError);
    expect(() => parseRedisUrl(url)).toThrow(message);
    expect(() => parseRedisUrl(url)).toThrow(/redis:\/\/host:port\/db/);
  });

  it('never shows a password', () => {
    expect(redactRedisUrl('redis://user:secret@h:1/0')).toBe('redis://user:***@h:1/0');
    expect(redactRedisUrl('redis://:secret@h:1/0')).toBe('redis://:***@h:1/0');
    expect(redactRedisUrl('redis://h:1/0')).toBe('redis://h:1/0');
    let message = '';
    try {
      parseRedisUrl('redis://u:secret@h:1/x');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toContain('secret');
  });
});

describe('reconnectDelay', () => {
  it('doubles from the base, stays under the cap, and never gives up', () => {
    for (let n = 1; n <= 200; n++) {
      const d = reconnectDelay(n, 100, 5000);
      const raw = Math.min(5000, 100 * 2 ** (n - 1));
      expect(d).toBeGreaterThanOrEqual(Math.floor(raw * 0.8));
      expect(d).toBeLessThanOrEqual(Math.ceil(raw * 1.2));
    }
  });
});

describe('ClusterKeys', () => {
  it('puts a room in a hash tag and refuses names that would break it', () => {
    const k = new ClusterKeys('fc');
    expect(k.chat('lobby-1')).toEqual({ meta: 'fc:chat:{lobby-1}:meta', log: 'fc:chat:{lobby-1}:log', history: 'fc:chat:{lobby-1}:history', channel: 'fc:chat:{lobby-1}' });
    expect(k.origin('lobby-1')).toBe('fc:room:{lobby-1}:origin');
    expect(() => k.chat('a}b')).toThrow(/letters, digits/);
    expect(() => new ClusterKeys('a b')).toThrow(/key prefix/);
  });
});
