import type { types as ms } from 'mediasoup';
import { isSameProfile } from 'h264-profile-level-id';
import { SdpError, attribute, attributes, formatFmtp, parseFmtp, parseSdp, type SdpMedia } from './sdp.js';

/**
 * Offer/answer for WHIP and WHEP: what a client's SDP offer means in
 * mediasoup's terms (a producer's RTP parameters, or a receiver's RTP
 * capabilities), and the answer that describes the mediasoup transport back.
 * mediasoup's WebRTC transports are ICE-lite, so the answer is complete at once
 * (all candidates, no trickle needed from the server).
 */

/** A refused offer: 400 (malformed), 406 (no codec in common) or 422 (well-formed but unusable). */
export class NegotiationError extends Error {
  override name = 'NegotiationError';
  constructor(
    readonly status: 400 | 406 | 422,
    readonly code: 'bad-sdp' | 'no-common-codec' | 'unsupported-offer',
    message: string,
  ) {
    super(message);
  }
}

export interface OfferCodec {
  payloadType: number;
  mimeType: string;
  clockRate: number;
  channels?: number;
  parameters: Record<string, string | number>;
  rtcpFeedback: ms.RtcpFeedback[];
}

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface OfferSection {
  index: number;
  mid: string | undefined;
  kind: string;
  /** Port 0: the offerer does not want this section. */
  disabled: boolean;
  /** An RTP section a WebRTC peer can use (UDP/TLS/RTP/SAVPF or TCP/DTLS/RTP/SAVPF). */
  rtp: boolean;
  direction: Direction;
  proto: string;
  formats: string[];
  codecs: OfferCodec[];
  headerExtensions: { id: number; uri: string }[];
  /** Primary SSRCs in order, each with its RTX SSRC when an FID group names one. */
  encodings: { ssrc: number; rtx?: number }[];
  cname: string | undefined;
  /** RID-based simulcast offered (not taken: the answer leaves it out, so one stream is sent). */
  simulcast: boolean;
}

export interface Offer {
  ice: { usernameFragment: string; password: string };
  fingerprints: ms.DtlsFingerprint[];
  setup: 'actpass' | 'active' | 'passive';
  sections: OfferSection[];
}

const DIRECTIONS: readonly Direction[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];
const FINGERPRINT_ALGORITHMS = new Set(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);

/** Reads a WebRTC offer; throws NegotiationError 400 with what is missing. */
export function readOffer(text: string): Offer {
  let sdp;
  try {
    sdp = parseSdp(text);
  } catch (err) {
    if (err instanceof SdpError) throw new NegotiationError(400, 'bad-sdp', err.message);
    throw err;
  }
  if (sdp.media.length === 0) throw new NegotiationError(400, 'bad-sdp', 'the offer has no media section (m=)');
  const sections = sdp.media.map((m, i) => readSection(m, i, sdp.session));
  const used = sections.filter((s) => !s.disabled && s.rtp);
  if (used.length === 0) throw new NegotiationError(422, 'unsupported-offer', 'the offer has no active RTP audio or video section');
  const first = sdp.media[sections.indexOf(used[0]!)]!.lines;
  const ufrag = attribute('ice-ufrag', first, sdp.session);
  const pwd = attribute('ice-pwd', first, sdp.session);
  if (!ufrag || !pwd) throw new NegotiationError(400, 'bad-sdp', 'the offer has no a=ice-ufrag and a=ice-pwd');
  const fingerprints: ms.DtlsFingerprint[] = [];
  for (const fp of [...attributes(first, 'fingerprint'), ...attributes(sdp.session, 'fingerprint')]) {
    const [algorithm, value] = fp.split(' ');
    if (algorithm && value && FINGERPRINT_ALGORITHMS.has(algorithm.toLowerCase())) fingerprints.push({ algorithm: algorithm.toLowerCase() as ms.FingerprintAlgorithm, value });
  }
  if (fingerprints.length === 0) throw new NegotiationError(400, 'bad-sdp', 'the offer has no DTLS a=fingerprint (sha-256 or similar)');
  const setup = attribute('setup', first, sdp.session) ?? 'actpass';
  if (setup !== 'actpass' && setup !== 'active' && setup !== 'passive') throw new NegotiationError(400, 'bad-sdp', `a=setup:${setup} is not actpass, active or passive`);
  const mids = new Set<string>();
  for (const s of used) {
    if (!s.mid) throw new NegotiationError(400, 'bad-sdp', `media section ${s.index} has no a=mid (WHIP and WHEP need BUNDLE)`);
    if (mids.has(s.mid)) throw new NegotiationError(400, 'bad-sdp', `a=mid:${s.mid} appears twice`);
    mids.add(s.mid);
  }
  return { ice: { usernameFragment: ufrag, password: pwd }, fingerprints, setup, sections };
}

function readSection(m: SdpMedia, index: number, session: readonly string[]): OfferSection {
  const codecs = new Map<number, OfferCodec>();
  for (const value of attributes(m.lines, 'rtpmap')) {
    const match = /^(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?$/.exec(value.trim());
    if (!match) throw new NegotiationError(400, 'bad-sdp', `a=rtpmap:${value} is malformed`);
    const pt = Number(match[1]);
    codecs.set(pt, {
      payloadType: pt,
      mimeType: `${m.kind}/${match[2]}`,
      clockRate: Number(match[3]),
      ...(match[4] ? { channels: Number(match[4]) } : m.kind === 'audio' ? { channels: 1 } : {}),
      parameters: {},
      rtcpFeedback: [],
    });
  }
  for (const value of attributes(m.lines, 'fmtp')) {
    const sp = value.indexOf(' ');
    const codec = codecs.get(Number(value.slice(0, sp)));
    if (codec && sp > 0) codec.parameters = parseFmtp(value.slice(sp + 1));
  }
  for (const value of attributes(m.lines, 'rtcp-fb')) {
    const [pt, type, parameter] = value.trim().split(/\s+/);
    if (!pt || !type) continue;
    const fb = { type, parameter: parameter ?? '' };
    for (const c of pt === '*' ? codecs.values() : [codecs.get(Number(pt))]) c?.rtcpFeedback.push(fb);
  }
  const headerExtensions: { id: number; uri: string }[] = [];
  for (const value of attributes(m.lines, 'extmap')) {
    const match = /^(\d+)(?:\/\w+)? (\S+)/.exec(value);
    if (match) headerExtensions.push({ id: Number(match[1]), uri: match[2]! });
  }
  const ssrcs: number[] = [];
  let cname: string | undefined;
  for (const value of attributes(m.lines, 'ssrc')) {
    const match = /^(\d+) (\S+?)(?::(.*))?$/.exec(value);
    if (!match) continue;
    const ssrc = Number(match[1]);
    if (!ssrcs.includes(ssrc)) ssrcs.push(ssrc);
    if (match[2] === 'cname') cname ??= match[3];
  }
  const rtxOf = new Map<number, number>();
  for (const value of attributes(m.lines, 'ssrc-group')) {
    const [semantics, primary, rtx] = value.split(' ');
    if (semantics === 'FID' && primary && rtx) rtxOf.set(Number(primary), Number(rtx));
  }
  const rtxSsrcs = new Set(rtxOf.values());
  const direction = DIRECTIONS.find((d) => m.lines.includes(`a=${d}`)) ?? 'sendrecv';
  return {
    index,
    mid: attribute('mid', m.lines),
    kind: m.kind,
    disabled: m.port === 0,
    rtp: (m.kind === 'audio' || m.kind === 'video') && /RTP\/S?AVPF?$/.test(m.proto),
    direction,
    proto: m.proto,
    formats: m.formats,
    codecs: m.formats.map((f) => codecs.get(Number(f))).filter((c): c is OfferCodec => c !== undefined),
    headerExtensions,
    encodings: ssrcs.filter((s) => !rtxSsrcs.has(s)).map((ssrc) => (rtxOf.has(ssrc) ? { ssrc, rtx: rtxOf.get(ssrc)! } : { ssrc })),
    cname: cname ?? attribute('msid', m.lines, session)?.split(' ')[0],
    simulcast: attribute('simulcast', m.lines) !== undefined,
  };
}

// ---- codecs -----------------------------------------------------------------------

function isRtx(c: { mimeType: string }): boolean {
  return /\/rtx$/i.test(c.mimeType);
}

/** Whether an offered codec is the router's `cap` (H264: same packetization mode and profile). */
export function codecMatches(offer: OfferCodec, cap: ms.RtpCodecCapability): boolean {
  if (offer.mimeType.toLowerCase() !== cap.mimeType.toLowerCase() || offer.clockRate !== cap.clockRate) return false;
  if (cap.kind === 'audio' && (offer.channels ?? 1) !== (cap.channels ?? 1)) return false;
  if (cap.mimeType.toLowerCase() === 'video/h264') {
    const capParams = cap.parameters ?? {};
    if (Number(offer.parameters['packetization-mode'] ?? 0) !== Number(capParams['packetization-mode'] ?? 0)) return false;
    return isSameProfile(offer.parameters, capParams);
  }
  return true;
}

/** The feedback both sides support, in the offer's order. */
function commonFeedback(offered: ms.RtcpFeedback[], cap: ms.RtpCodecCapability): ms.RtcpFeedback[] {
  const supported = cap.rtcpFeedback ?? [];
  return offered.filter((fb) => supported.some((s) => s.type === fb.type && (s.parameter ?? '') === (fb.parameter ?? '')));
}

/** The router's codec names of one kind, for error messages. */
function codecNames(caps: ms.RtpCapabilities, kind: string): string {
  return [...new Set((caps.codecs ?? []).filter((c) => c.kind === kind && !isRtx(c)).map((c) => c.mimeType.split('/')[1]))].join(', ');
}

/** Header extensions offered that the router handles in `direction` for this kind, in the offer's order. */
function commonExtensions(section: OfferSection, caps: ms.RtpCapabilities, routerReceives: boolean): { id: number; uri: string }[] {
  return section.headerExtensions.filter((e) =>
    (caps.headerExtensions ?? []).some(
      (h) => h.kind === section.kind && h.uri === e.uri && (h.direction === 'sendrecv' || h.direction === (routerReceives ? 'recvonly' : 'sendonly')),
    ),
  );
}

// ---- WHIP: an offer that sends ---------------------------------------------------

const RID_EXTENSIONS = new Set(['urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id', 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id']);

export interface IngestPlan {
  section: OfferSection;
  kind: ms.MediaKind;
  rtpParameters: ms.RtpParameters;
  /** The answer's codecs for this section: the chosen one, and its RTX when offered. */
  answerCodecs: OfferCodec[];
  answerExtensions: { id: number; uri: string }[];
}

/**
 * The producer each sending section becomes: the first offered codec the router
 * accepts (with its RTX), the feedback and header extensions both support, and
 * the SSRCs the offer announces (none announced: mediasoup takes the stream by
 * its MID). Refused with 406 when a section has no codec in common.
 */
export function planIngest(offer: Offer, caps: ms.RtpCapabilities): IngestPlan[] {
  const plans: IngestPlan[] = [];
  const kinds = new Set<string>();
  for (const s of offer.sections) {
    if (s.disabled || !s.rtp || s.direction === 'inactive') continue;
    if (s.direction === 'recvonly') throw new NegotiationError(422, 'unsupported-offer', `media section ${s.mid} is recvonly: a WHIP offer sends (sendonly); to watch, use WHEP`);
    if (kinds.has(s.kind)) throw new NegotiationError(422, 'unsupported-offer', `the offer sends two ${s.kind} sections; a broadcaster sends one audio and one video`);
    kinds.add(s.kind);
    const kind = s.kind as ms.MediaKind;
    let chosen: { codec: OfferCodec; cap: ms.RtpCodecCapability } | undefined;
    for (const codec of s.codecs) {
      if (isRtx(codec)) continue;
      const cap = (caps.codecs ?? []).find((c) => c.kind === kind && !isRtx(c) && codecMatches(codec, c));
      if (cap) {
        chosen = { codec, cap };
        break;
      }
    }
    if (!chosen) {
      const offered = s.codecs.filter((c) => !isRtx(c)).map((c) => c.mimeType.split('/')[1]);
      throw new NegotiationError(406, 'no-common-codec', `no ${kind} codec in common: the offer has ${offered.join(', ') || 'none'}, this server takes ${codecNames(caps, kind)}`);
    }
    const main: OfferCodec = { ...chosen.codec, rtcpFeedback: commonFeedback(chosen.codec.rtcpFeedback, chosen.cap) };
    const rtx = s.codecs.find((c) => isRtx(c) && Number(c.parameters.apt) === main.payloadType);
    const answerCodecs = rtx ? [main, { ...rtx, rtcpFeedback: [] }] : [main];
    // Simulcast is not taken (the answer has no a=simulcast): without RID extensions the sender sends one plain stream.
    const answerExtensions = commonExtensions(s, caps, true).filter((e) => !RID_EXTENSIONS.has(e.uri));
    const encodings: ms.RtpEncodingParameters[] =
      s.encodings.length > 0 ? [rtx && s.encodings[0]!.rtx ? { ssrc: s.encodings[0]!.ssrc, rtx: { ssrc: s.encodings[0]!.rtx } } : { ssrc: s.encodings[0]!.ssrc }] : [{}];
    plans.push({
      section: s,
      kind,
      answerCodecs,
      answerExtensions,
      rtpParameters: {
        mid: s.mid!,
        codecs: answerCodecs.map((c) => ({
          mimeType: c.mimeType,
          payloadType: c.payloadType,
          clockRate: c.clockRate,
          ...(c.channels !== undefined && kind === 'audio' ? { channels: c.channels } : {}),
          parameters: c.parameters,
          rtcpFeedback: c.rtcpFeedback,
        })),
        headerExtensions: answerExtensions.map((e) => ({ uri: e.uri as ms.RtpHeaderExtensionUri, id: e.id })),
        encodings,
        rtcp: { cname: s.cname ?? `whip-${s.mid}`, reducedSize: true },
      },
    });
  }
  if (plans.length === 0) throw new NegotiationError(422, 'unsupported-offer', 'the offer sends no audio or video (all sections inactive)');
  return plans;
}

// ---- WHEP: an offer that receives --------------------------------------------------

export interface EgressSection {
  section: OfferSection;
  kind: ms.MediaKind;
  answerCodecs: OfferCodec[];
  answerExtensions: { id: number; uri: string }[];
}

export interface EgressPlan {
  /** What the receiver takes, in mediasoup's terms: its payload types and extension ids, no RTX. */
  rtpCapabilities: ms.RtpCapabilities;
  /** The receiving sections, in offer order. */
  sections: EgressSection[];
}

/**
 * What a WHEP offer can receive. mediasoup sends with its router's payload
 * types and header extension ids and cannot renumber per receiver, while an
 * answer must keep the offer's numbers (browsers refuse a renumbered
 * extension and drop packets of a payload type they offered for another
 * codec). So a section is answered with the codecs the offer numbers as the
 * router does (src/media/codecs.ts follows Chromium), only the header
 * extensions numbered alike, and no RTX (retransmissions go in the media
 * stream). 406 when a receiving section has no such codec.
 */
export function planEgress(offer: Offer, caps: ms.RtpCapabilities): EgressPlan {
  const codecs: ms.RtpCodecCapability[] = [];
  const extensions: ms.RtpHeaderExtension[] = [];
  const sections: EgressSection[] = [];
  for (const s of offer.sections) {
    if (s.disabled || !s.rtp || s.direction === 'inactive') continue;
    if (s.direction === 'sendonly') throw new NegotiationError(422, 'unsupported-offer', `media section ${s.mid} is sendonly: a WHEP offer receives (recvonly); to broadcast, use WHIP`);
    const kind = s.kind as ms.MediaKind;
    const answerCodecs: OfferCodec[] = [];
    for (const codec of s.codecs) {
      if (isRtx(codec)) continue;
      // mediasoup sends with the router's payload types, and the answer must keep the offer's: the two agree or the codec is out.
      const cap = (caps.codecs ?? []).find((c) => c.kind === kind && !isRtx(c) && c.preferredPayloadType === codec.payloadType && codecMatches(codec, c));
      if (!cap) continue;
      const rtcpFeedback = commonFeedback(codec.rtcpFeedback, cap);
      answerCodecs.push({ ...codec, rtcpFeedback });
      if (!codecs.some((c) => c.preferredPayloadType === cap.preferredPayloadType)) codecs.push({ ...cap, rtcpFeedback });
    }
    if (answerCodecs.length === 0) {
      const offered = s.codecs.filter((c) => !isRtx(c)).map((c) => c.mimeType.split('/')[1]);
      const ours = (caps.codecs ?? []).filter((c) => c.kind === kind && !isRtx(c)).map((c) => `${c.mimeType.split('/')[1]} as ${c.preferredPayloadType}`);
      throw new NegotiationError(406, 'no-common-codec', `no ${kind} codec in common: the offer takes ${offered.join(', ') || 'none'}; this server sends ${ours.join(', ')} (payload types numbered as Chromium does)`);
    }
    // Only extensions the offer numbers as the router does: browsers refuse an answer that renumbers one.
    const answerExtensions = commonExtensions(s, caps, false).filter((e) => (caps.headerExtensions ?? []).some((h) => h.kind === kind && h.uri === e.uri && h.preferredId === e.id));
    for (const e of answerExtensions) {
      if (!extensions.some((x) => x.kind === kind && x.uri === e.uri)) extensions.push({ kind, uri: e.uri as ms.RtpHeaderExtensionUri, preferredId: e.id, direction: 'sendrecv' });
    }
    sections.push({ section: s, kind, answerCodecs, answerExtensions });
  }
  if (sections.length === 0) throw new NegotiationError(422, 'unsupported-offer', 'the offer receives no audio or video (all sections inactive)');
  return { rtpCapabilities: { codecs, headerExtensions: extensions }, sections };
}

// ---- the answer -----------------------------------------------------------------------

export interface LocalTransport {
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

export interface AnswerSection {
  section: OfferSection;
  direction: 'recvonly' | 'sendonly';
  codecs: OfferCodec[];
  extensions: { id: number; uri: string }[];
  /** `a=msid` of a WHEP section: players pair a slot's audio and video by stream. */
  msid?: string;
  /** The stream a WHEP section carries now, announced (browsers drop unannounced streams). */
  ssrc?: { ssrc: number; cname: string };
}

/** Our DTLS role from the offer's: an offerer that can be either lets us be the server. */
export function answerSetup(offer: Offer): { local: 'active' | 'passive'; remoteRole: ms.DtlsRole } {
  return offer.setup === 'passive' ? { local: 'active', remoteRole: 'server' } : { local: 'passive', remoteRole: 'client' };
}

function candidateLines(t: LocalTransport): string[] {
  return t.iceCandidates.map((c) => {
    const address = (c as ms.IceCandidate & { ip?: string }).address ?? (c as { ip?: string }).ip;
    return `a=candidate:${c.foundation} 1 ${c.protocol} ${c.priority} ${address} ${c.port} typ ${c.type}${c.protocol === 'tcp' ? ` tcptype ${c.tcpType ?? 'passive'}` : ''}`;
  });
}

/** The answer SDP: one section per offered one, in order; those not answered are rejected (port 0). */
export function writeAnswer(offer: Offer, local: LocalTransport, answered: AnswerSection[], sessionId: string): string {
  const fingerprint = local.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? local.dtlsParameters.fingerprints[0];
  if (!fingerprint) throw new Error('the transport has no DTLS fingerprint');
  const first = local.iceCandidates.find((c) => c.protocol === 'udp') ?? local.iceCandidates[0];
  const address = first ? ((first as { address?: string; ip?: string }).address ?? (first as { ip?: string }).ip ?? '0.0.0.0') : '0.0.0.0';
  const port = first?.port ?? 9;
  const ipv = address.includes(':') ? 'IP6' : 'IP4';
  const byIndex = new Map(answered.map((a) => [a.section.index, a]));
  const bundle = answered.map((a) => a.section.mid!);
  const { local: setup } = answerSetup(offer);
  const out = [
    'v=0',
    `o=- ${sessionId} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=group:BUNDLE ${bundle.join(' ')}`,
    'a=msid-semantic: WMS *',
  ];
  for (const s of offer.sections) {
    const a = byIndex.get(s.index);
    if (!a) {
      out.push(`m=${s.kind} 0 ${s.proto} ${s.formats.join(' ') || '0'}`, `c=${ipv === 'IP6' ? 'IN IP6 ::' : 'IN IP4 0.0.0.0'}`);
      if (s.mid) out.push(`a=mid:${s.mid}`);
      out.push('a=inactive');
      continue;
    }
    out.push(`m=${s.kind} ${port} ${s.proto} ${a.codecs.map((c) => c.payloadType).join(' ')}`, `c=IN ${ipv} ${address}`, 'a=rtcp:9 IN IP4 0.0.0.0');
    out.push(`a=ice-ufrag:${local.iceParameters.usernameFragment}`, `a=ice-pwd:${local.iceParameters.password}`);
    out.push(`a=fingerprint:${fingerprint.algorithm} ${fingerprint.value}`, `a=setup:${setup}`);
    out.push(`a=mid:${s.mid}`, `a=${a.direction}`, 'a=rtcp-mux', 'a=rtcp-rsize');
    if (a.msid) out.push(`a=msid:${a.msid}`);
    if (a.ssrc) out.push(`a=ssrc:${a.ssrc.ssrc} cname:${a.ssrc.cname}`);
    for (const e of a.extensions) out.push(`a=extmap:${e.id} ${e.uri}`);
    for (const c of a.codecs) {
      const [, name] = c.mimeType.split('/');
      out.push(`a=rtpmap:${c.payloadType} ${name}/${c.clockRate}${s.kind === 'audio' && (c.channels ?? 1) > 1 ? `/${c.channels}` : ''}`);
      if (Object.keys(c.parameters).length > 0) out.push(`a=fmtp:${c.payloadType} ${formatFmtp(c.parameters)}`);
      for (const fb of c.rtcpFeedback) out.push(`a=rtcp-fb:${c.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`);
    }
    out.push(...candidateLines(local), 'a=end-of-candidates');
  }
  return `${out.join('\r\n')}\r\n`;
}

// ---- trickle and ICE restart (RFC 8840 fragments) ---------------------------------------

/** The ICE credentials a PATCH fragment carries, when it restarts ICE. */
export function readFragmentIce(text: string): { usernameFragment: string; password: string } | undefined {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const bad = lines.findIndex((l) => !/^[a-z]=/.test(l));
  if (bad >= 0) throw new NegotiationError(400, 'bad-sdp', `line ${bad + 1} of the fragment is not of the form "x=value"`);
  const ufrag = attribute('ice-ufrag', lines);
  const pwd = attribute('ice-pwd', lines);
  return ufrag && pwd ? { usernameFragment: ufrag, password: pwd } : undefined;
}

/** The answer to an ICE restart: our new credentials and candidates, for the first bundled section. */
export function writeRestartFragment(local: Pick<LocalTransport, 'iceParameters' | 'iceCandidates'>, section: Pick<OfferSection, 'kind' | 'proto' | 'mid'>): string {
  const lines = [
    'a=ice-lite',
    `a=ice-ufrag:${local.iceParameters.usernameFragment}`,
    `a=ice-pwd:${local.iceParameters.password}`,
    `m=${section.kind} 9 ${section.proto} 0`,
    `a=mid:${section.mid}`,
    ...candidateLines(local as LocalTransport),
    'a=end-of-candidates',
  ];
  return `${lines.join('\r\n')}\r\n`;
}
