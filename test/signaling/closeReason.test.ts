import { describe, expect, it } from 'vitest';
import { fitCloseReason, MAX_CLOSE_REASON_BYTES } from '../../src/signaling/closeReason.js';
import { peekRequestId } from '../../src/signaling/server.js';

describe('fitCloseReason', () => {
  it('keeps a reason that fits', () => {
    expect(fitCloseReason('removed from this room')).toBe('removed from this room');
    const exact = 'a'.repeat(MAX_CLOSE_REASON_BYTES);
    expect(fitCloseReason(exact)).toBe(exact);
  });

  it.each([
    ['two-byte characters', 'é'.repeat(100)],
    ['three-byte characters', '禁'.repeat(60)],
    ['surrogate pairs', '🚫'.repeat(50)],
    ['mixed', 'Déjà vu 🚫 '.repeat(18)],
  ])('cuts %s on a character boundary, within 123 bytes, ending in …', (_what, reason) => {
    const cut = fitCloseReason(reason);
    const bytes = Buffer.from(cut);
    expect(bytes.length).toBeLessThanOrEqual(123);
    // Round-trips through UTF-8 unchanged: no half character, no lone surrogate (it would decode to U+FFFD).
    expect(new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toBe(cut);
    expect(cut.endsWith('…')).toBe(true);
    expect(reason.startsWith(cut.slice(0, -1))).toBe(true);
  });
});

describe('peekRequestId', () => {
  const frame = (s: string) => new TextEncoder().encode(s).buffer;
  it('reads the id of a request from its first bytes', () => {
    expect(peekRequestId(frame('{"type":"request","id":42,"method":"chatSend","data":{"text":"hi"}}'))).toBe(42);
    expect(peekRequestId(frame('{"id": 7 }'))).toBe(7);
  });
  it('gives null when there is none to read cheaply', () => {
    expect(peekRequestId(frame('{not json'))).toBeNull();
    expect(peekRequestId(frame(`{"type":"request","data":{"x":"${'a'.repeat(100)}"},"id":3}`))).toBeNull();
    expect(peekRequestId(frame('{"id":"3"}'))).toBeNull();
  });
});
