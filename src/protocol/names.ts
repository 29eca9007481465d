/**
 * Names a viewer may not take: words that claim a role (host, admin, moderator…).
 * Hosts are shown with a Host badge; a viewer calling themselves "Alice (host)"
 * would otherwise look like one. Its own module (no zod) so the lobby page stays small.
 */
export const RESERVED_NAME_WORDS = ['host', 'admin', 'administrator', 'moderator', 'mod', 'broadcaster', 'staff', 'official', 'fourcast'];

export function isReservedName(name: string): boolean {
  const words = name.toLowerCase().normalize('NFKC').split(/[^\p{L}\p{N}]+/u);
  return words.some((w) => RESERVED_NAME_WORDS.includes(w));
}

/**
 * Characters that render as nothing though Unicode calls them letters or symbols: Hangul
 * fillers (U+3164, U+115F, U+1160, U+FFA0), the blank Braille pattern, Khmer inherent vowels.
 * An alternation, not a class: U+115F U+1160 side by side in a class read as one syllable.
 */
const BLANK_LOOKALIKES = /\u115F|\u1160|\u17B4|\u17B5|\u2800|\u3164|\uFFA0/gu;

/** At most this many combining marks on one character: more only stack into a smear ("Zalgo"). */
export const MAX_COMBINING_MARKS = 3;

/** Caps each run of combining marks at MAX_COMBINING_MARKS. */
export function limitCombiningMarks(s: string): string {
  return s.replace(/(\p{M}{3})\p{M}+/gu, '$1');
}

/**
 * Has `s` a character a person can see? Separators, marks, controls, format characters and
 * blank look-alikes alone do not count: a name or a message made only of them looks empty.
 */
export function hasVisibleText(s: string): boolean {
  return s.replace(BLANK_LOOKALIKES, '').replace(/[\p{Z}\p{M}\p{C}\s]/gu, '').length > 0;
}

/**
 * A display name as shown: line and paragraph separators (U+2028/2029) and blank look-alikes
 * removed, combining marks capped; undefined when nothing visible is left.
 */
export function visibleName(raw: string): string | undefined {
  const name = limitCombiningMarks(raw.normalize('NFC').replace(/[\p{Zl}\p{Zp}\p{Cc}\p{Cf}]/gu, '').replace(BLANK_LOOKALIKES, '')).trim();
  return hasVisibleText(name) ? name : undefined;
}
