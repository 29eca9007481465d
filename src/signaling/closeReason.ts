/** A WebSocket close frame carries at most 125 bytes: a 2-byte code and a 123-byte reason (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * `reason` cut to fit a close frame, on a character boundary: a reason cut mid-character
 * is invalid UTF-8, which browsers answer by failing the connection (1006), so the page
 * would take a kick for a network drop and reconnect. Cut reasons end with "…".
 */
export function fitCloseReason(reason: string, maxBytes = MAX_CLOSE_REASON_BYTES): string {
  if (Buffer.byteLength(reason) <= maxBytes) return reason;
  const budget = maxBytes - Buffer.byteLength('…');
  let out = '';
  let bytes = 0;
  // By code point (for…of), so a surrogate pair is never split either.
  for (const ch of reason) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > budget) break;
    out += ch;
    bytes += n;
  }
  return `${out}…`;
}
