import { describe, expect, it } from 'vitest';
import { AddressLimits } from '../../src/signaling/addressLimits.js';
import { clientAddress, normaliseAddress, trustFunction } from '../../src/http/clientAddress.js';

describe('AddressLimits', () => {
  it('counts connections per address and frees them on close', () => {
    const l = new AddressLimits({ maxConnections: 2, chatRate: { perSecond: 1, burst: 1 } });
    expect(l.openConnection('a')).toBe(true);
    expect(l.openConnection('a')).toBe(true);
    expect(l.connectionsFull('a')).toBe(true);
    expect(l.openConnection('a')).toBe(false);
    expect(l.openConnection('b')).toBe(true);
    l.closeConnection('a');
    expect(l.openConnection('a')).toBe(true);
  });

  it('shares one chat budget across the connections of an address, refilled over time', () => {
    let now = 0;
    const l = new AddressLimits({ maxConnections: 5, chatRate: { perSecond: 2, burst: 3 } }, () => now);
    const takes = (n: number) => Array.from({ length: n }, () => l.takeChat('a')).filter(Boolean).length;
    expect(takes(10)).toBe(3);
    expect(l.takeChat('b')).toBe(true);
    now += 1000;
    expect(takes(10)).toBe(2);
    now += 60_000; // long idle: the bucket is forgotten, and full again
    expect(takes(10)).toBe(3);
  });
});

describe('clientAddress (the TRUST_PROXY rule of Fastify, for the WebSocket upgrade)', () => {
  it('ignores X-Forwarded-For from an untrusted peer', () => {
    expect(clientAddress('198.51.100.1', '203.0.113.5', trustFunction(false))).toBe('198.51.100.1');
    expect(clientAddress('198.51.100.1', '203.0.113.5', trustFunction(['127.0.0.1']))).toBe('198.51.100.1');
  });
  it('believes it from a trusted proxy, up to the first untrusted hop', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.5', trustFunction(['127.0.0.1']))).toBe('203.0.113.5');
    expect(clientAddress('127.0.0.1', 'forged, 203.0.113.5', trustFunction(['127.0.0.1']))).toBe('203.0.113.5');
    expect(clientAddress('198.51.100.2', '203.0.113.5, 198.51.100.1', trustFunction(2))).toBe('203.0.113.5');
    expect(clientAddress('198.51.100.2', '203.0.113.5, 198.51.100.1', trustFunction(1))).toBe('198.51.100.1');
    expect(clientAddress('198.51.100.2', 'forged, 203.0.113.5', trustFunction(true))).toBe('forged');
  });
  it('spells IPv4-mapped addresses as Fastify does', () => {
    expect(normaliseAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(clientAddress('::ffff:198.51.100.3', undefined, trustFunction(false))).toBe('198.51.100.3');
    expect(normaliseAddress('::1')).toBe('::1');
  });
});
