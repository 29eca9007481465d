import { describe, expect, it } from 'vitest';
import { normaliseChatText } from '../../src/chat/chatLog.js';
import { hasVisibleText, limitCombiningMarks, visibleName } from '../../src/protocol/names.js';

describe('visible text in names and chat', () => {
  it.each([
    ['Hangul filler alone', '\u3164'],
    ['Hangul fillers and spaces', '\u3164 \u3164\u115F\u1160\uFFA0'],
    ['line and paragraph separators', '\u2028\u2029'],
    ['blank Braille and a no-break space', '\u2800\u00A0'],
    ['combining marks alone', '\u0301\u0302\u0303'],
    ['zero-width characters', '\u200B\u200D\u2060'],
  ])('finds nothing visible in %s', (_what, s) => {
    expect(hasVisibleText(s)).toBe(false);
    expect(visibleName(s)).toBeUndefined();
    expect(normaliseChatText(s)).toBe('');
  });

  it('keeps real text, in any script', () => {
    for (const s of ['Ann', 'José', '김민준', 'Đặng', '🙂', '١٢٣']) {
      expect(hasVisibleText(s), s).toBe(true);
      expect(visibleName(s), s).toBe(s.normalize('NFC'));
    }
  });

  it('caps combining marks at three per character (no "Zalgo" towers)', () => {
    const zalgo = `Z${'\u0336\u0337\u0338'.repeat(100)}ed`;
    expect(limitCombiningMarks(zalgo)).toBe('Z\u0336\u0337\u0338ed');
    expect(normaliseChatText(zalgo)).toBe('Z\u0336\u0337\u0338ed');
    expect(visibleName(zalgo)).toBe('Z\u0336\u0337\u0338ed');
    // Ordinary accents stay.
    expect(limitCombiningMarks('e\u0301')).toBe('e\u0301');
  });

  it('turns U+2028/2029 into newlines in chat and removes them from names', () => {
    expect(normaliseChatText('one\u2028two\u2029three')).toBe('one\ntwo\nthree');
    expect(visibleName('Ann\u2028Lee')).toBe('AnnLee');
    expect(visibleName('\u3164Ann\u3164')).toBe('Ann');
  });
});
