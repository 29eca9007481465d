/**
 * The little of SDP (RFC 8866) that WHIP and WHEP need: a session offer is read
 * into lines grouped by media section, and an answer is written line by line.
 * Nothing here knows mediasoup; negotiate.ts maps between the two.
 */

/** One `m=` section: its media line's fields and every line after it, in order. */
export interface SdpMedia {
  kind: string;
  port: number;
  proto: string;
  formats: string[];
  /** The section's lines after `m=` (`a=`, `c=`, `b=` …), without the line ending. */
  lines: string[];
}

export interface Sdp {
  /** Session-level lines (before the first `m=`). */
  session: string[];
  media: SdpMedia[];
}

/** An offer that is not SDP, or lacks what a WebRTC offer must carry (HTTP 400). */
export class SdpError extends Error {
  override name = 'SdpError';
}

const LINE = /^[a-z]=/;
const MEDIA_LINE = /^m=(\S+) (\d+)(?:\/\d+)? (\S+)(?: (.*))?$/;

/** Largest SDP accepted: a browser's offer for four audio and four video sections is about 12 KB. */
export const MAX_SDP_BYTES = 64 * 1024;

export function parseSdp(text: string): Sdp {
  if (text.length > MAX_SDP_BYTES) throw new SdpError(`the SDP is larger than ${MAX_SDP_BYTES} bytes`);
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines[0] !== 'v=0') throw new SdpError('not an SDP session description: the first line must be "v=0"');
  const sdp: Sdp = { session: [], media: [] };
  for (const [i, line] of lines.entries()) {
    if (!LINE.test(line)) throw new SdpError(`line ${i + 1} is not of the form "x=value": ${JSON.stringify(line.slice(0, 60))}`);
    if (line.startsWith('m=')) {
      const m = MEDIA_LINE.exec(line);
      if (!m) throw new SdpError(`line ${i + 1} is not a valid media line: ${JSON.stringify(line.slice(0, 60))}`);
      sdp.media.push({ kind: m[1]!, port: Number(m[2]), proto: m[3]!, formats: m[4] ? m[4].split(' ').filter(Boolean) : [], lines: [] });
    } else if (sdp.media.length > 0) {
      sdp.media[sdp.media.length - 1]!.lines.push(line);
    } else {
      sdp.session.push(line);
    }
  }
  return sdp;
}

/** The values of every `a=name:value` (or bare `a=name`, as '') among `lines`. */
export function attributes(lines: readonly string[], name: string): string[] {
  const out: string[] = [];
  const prefix = `a=${name}`;
  for (const line of lines) {
    if (!line.startsWith(prefix)) continue;
    const rest = line.slice(prefix.length);
    if (rest === '') out.push('');
    else if (rest.startsWith(':')) out.push(rest.slice(1));
  }
  return out;
}

/** The first value of `a=name`, looked up in the section first, then in the session. */
export function attribute(name: string, ...scopes: (readonly string[])[]): string | undefined {
  for (const lines of scopes) {
    const v = attributes(lines, name)[0];
    if (v !== undefined) return v;
  }
  return undefined;
}

/** `a=fmtp` parameters as mediasoup takes them: numbers where numeric, except profile ids (hex strings). */
export function parseFmtp(config: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const part of config.split(';')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (!k || v === undefined) continue;
    out[k] = /^\d+$/.test(v) && !k.endsWith('profile-level-id') && v.length < 16 ? Number(v) : v;
  }
  return out;
}

export function formatFmtp(parameters: Record<string, unknown>): string {
  return Object.entries(parameters)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(';');
}
