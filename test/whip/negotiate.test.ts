import { describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { NegotiationError, planEgress, planIngest, readOffer, writeAnswer, writeRestartFragment, readFragmentIce } from '../../src/whip/negotiate.js';
import { parseSdp, attributes } from '../../src/whip/sdp.js';
import { mediaCodecs } from '../../src/media/codecs.js';
import { audioSection, offer, videoSection } from '../helpers/sdpOffers.js';

// The router's capabilities as mediasoup derives them from src/media/codecs.ts (payload types, RTX, feedback, extensions).
const caps: ms.RtpCapabilities = {
  codecs: [
    ...mediaCodecs.map((c) => ({
      ...c,
      rtcpFeedback:
        c.kind === 'audio'
          ? [{ type: 'nack', parameter: '' }, { type: 'transport-cc', parameter: '' }]
          : [{ type: 'nack', parameter: '' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }, { type: 'goog-remb', parameter: '' }, { type: 'transport-cc', parameter: '' }],
    })),
    { kind: 'video', mimeType: 'video/rtx', clockRate: 90000, preferredPayloadType: 100, parameters: { apt: 96 } },
  ],
  headerExtensions: [
    { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1, direction: 'sendrecv' },
    { kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1, direction: 'sendrecv' },
    { kind: 'audio', uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', preferredId: 5, direction: 'recvonly' },
    { kind: 'video', uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', preferredId: 5, direction: 'sendrecv' },
    { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', preferredId: 10, direction: 'sendrecv' },
  ],
};

const local = {
  iceParameters: { usernameFragment: 'srvufrag', password: 'srvpwd', iceLite: true },
  iceCandidates: [
    { foundation: 'udpcandidate', priority: 1076302079, address: '127.0.0.1', ip: '127.0.0.1', protocol: 'udp', port: 40000, type: 'host' },
    { foundation: 'tcpcandidate', priority: 1076276479, address: '127.0.0.1', ip: '127.0.0.1', protocol: 'tcp', port: 40001, type: 'host', tcpType: 'passive' },
  ] as ms.IceCandidate[],
  dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: '11:22:33' }] } as ms.DtlsParameters,
};

function refusal(f: () => unknown): { status: number; code: string; message: string } {
  try {
    f();
  } catch (err) {
    if (err instanceof NegotiationError) return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a NegotiationError');
}

describe('WHIP offers', () => {
  it('a browser offer becomes an Opus and a VP8 producer with its RTX, SSRCs, MIDs, feedback and extensions', () => {
    const o = readOffer(offer([audioSection('0', 'sendonly', 1111), videoSection('1', 'sendonly', 'chrome', 2222)]));
    expect(o.setup).toBe('actpass');
    expect(o.ice).toEqual({ usernameFragment: 'Abcd', password: '0123456789abcdefghijklmn' });
    const [audio, video] = planIngest(o, caps);
    expect(audio!.rtpParameters).toMatchObject({ mid: '0', codecs: [{ mimeType: 'audio/opus', payloadType: 111, channels: 2, parameters: { minptime: 10, useinbandfec: 1 } }], encodings: [{ ssrc: 1111 }], rtcp: { cname: 'abc' } });
    expect(audio!.rtpParameters.headerExtensions!.map((e) => e.uri)).toEqual([
      'urn:ietf:params:rtp-hdrext:sdes:mid',
      'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    ]);
    expect(video!.rtpParameters.codecs.map((c) => [c.mimeType, c.payloadType])).toEqual([['video/VP8', 96], ['video/rtx', 97]]);
    expect(video!.rtpParameters.encodings).toEqual([{ ssrc: 2222, rtx: { ssrc: 2223 } }]);
    // Feedback the router does not do is not answered; the orientation extension is not the router's.
    expect(video!.rtpParameters.codecs[0]!.rtcpFeedback!.map((f) => `${f.type} ${f.parameter}`.trim())).toEqual(['goog-remb', 'transport-cc', 'ccm fir', 'nack', 'nack pli']);
    expect(video!.answerExtensions.map((e) => e.id)).toEqual([1, 3]);
  });

  it('an offer without SSRCs (some encoders) is taken by MID', () => {
    const [, video] = planIngest(readOffer(offer([audioSection('0', 'sendonly'), videoSection('1', 'sendonly')])), caps);
    expect(video!.rtpParameters.encodings).toEqual([{}]);
    expect(video!.rtpParameters.mid).toBe('1');
  });

  it('a simulcast offer (RIDs, no SSRCs) is answered without simulcast and RID extensions: the sender falls back to one stream', () => {
    const video = videoSection('1', 'sendonly').concat(['a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id', 'a=rid:q send', 'a=rid:h send', 'a=rid:f send', 'a=simulcast:send q;h;f']);
    const o = readOffer(offer([audioSection('0', 'sendonly'), video]));
    expect(o.sections[1]!.simulcast).toBe(true);
    const [, plan] = planIngest(o, { ...caps, headerExtensions: [...caps.headerExtensions!, { kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id', preferredId: 2, direction: 'recvonly' }] });
    expect(plan!.rtpParameters.encodings).toEqual([{}]);
    expect(plan!.answerExtensions.map((e) => e.uri)).not.toContain('urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id');
    const answer = writeAnswer(o, local, [{ section: plan!.section, direction: 'recvonly', codecs: plan!.answerCodecs, extensions: plan!.answerExtensions }], '1');
    expect(answer).not.toMatch(/a=simulcast|a=rid/);
  });

  it('refuses with a clear status: no codec in common (406), a receiving offer (422), no MID or not SDP (400)', () => {
    const vp9 = refusal(() => planIngest(readOffer(offer([audioSection('0', 'sendonly'), videoSection('1', 'sendonly', 'vp9-only')])), caps));
    expect(vp9).toMatchObject({ status: 406, code: 'no-common-codec' });
    expect(vp9.message).toContain('the offer has VP9, AV1, this server takes VP8, H264');
    const high = refusal(() => planIngest(readOffer(offer([videoSection('1', 'sendonly', 'h264-high')])), caps));
    expect(high.status).toBe(406);
    expect(refusal(() => planIngest(readOffer(offer([audioSection('0', 'recvonly')])), caps))).toMatchObject({ status: 422, code: 'unsupported-offer' });
    expect(refusal(() => readOffer(offer([audioSection('0', 'sendonly').filter((l) => !l.startsWith('a=mid'))])))).toMatchObject({ status: 400, code: 'bad-sdp' });
    expect(refusal(() => readOffer('hello'))).toMatchObject({ status: 400, code: 'bad-sdp' });
    expect(refusal(() => readOffer(offer([audioSection('0', 'sendonly')]).replace(/a=fingerprint.*\r\n/, '')))).toMatchObject({ status: 400, message: expect.stringContaining('fingerprint') });
    expect(refusal(() => planIngest(readOffer(offer([audioSection('0', 'sendonly'), audioSection('1', 'sendonly')])), caps))).toMatchObject({ status: 422 });
  });

  it('the answer is ICE-lite, bundles the answered sections, offers every candidate and takes the DTLS server role', () => {
    const o = readOffer(offer([audioSection('0', 'sendonly', 1111), videoSection('1', 'sendonly', 'chrome', 2222)]));
    const plans = planIngest(o, caps);
    const answer = writeAnswer(o, local, plans.map((p) => ({ section: p.section, direction: 'recvonly', codecs: p.answerCodecs, extensions: p.answerExtensions })), '42');
    const sdp = parseSdp(answer);
    expect(sdp.session).toEqual(expect.arrayContaining(['a=ice-lite', 'a=group:BUNDLE 0 1']));
    expect(sdp.media.map((m) => [m.kind, m.port, m.formats.join(' ')])).toEqual([['audio', 40000, '111'], ['video', 40000, '96 97']]);
    for (const m of sdp.media) {
      expect(attributes(m.lines, 'setup')).toEqual(['passive']);
      expect(attributes(m.lines, 'recvonly')).toEqual(['']);
      expect(attributes(m.lines, 'candidate')).toEqual(['udpcandidate 1 udp 1076302079 127.0.0.1 40000 typ host', 'tcpcandidate 1 tcp 1076276479 127.0.0.1 40001 typ host tcptype passive']);
      expect(attributes(m.lines, 'fingerprint')).toEqual(['sha-256 11:22:33']);
    }
    expect(attributes(sdp.media[1]!.lines, 'fmtp')).toEqual(['97 apt=96']);
  });
});

describe('WHEP offers', () => {
  it('four audio+video pairs: the codecs numbered as the router numbers them, no RTX, no renumbered extension; a fifth pair is rejected', () => {
    const pairs = Array.from({ length: 5 }, (_, i) => [audioSection(String(2 * i), 'recvonly'), videoSection(String(2 * i + 1), 'recvonly')]).flat();
    const o = readOffer(offer(pairs));
    const plan = planEgress(o, caps);
    expect(plan.rtpCapabilities.codecs!.map((c) => [c.mimeType, c.preferredPayloadType])).toEqual([['audio/opus', 111], ['video/VP8', 96], ['video/H264', 108]]);
    // The offer numbers sdes:mid 1 and transport-cc 3, the router 1 and 5: only the MID extension is answered.
    expect(plan.rtpCapabilities.headerExtensions!.map((e) => [e.kind, e.uri.split(':').pop(), e.preferredId])).toEqual([['audio', 'mid', 1], ['video', 'mid', 1]]);
    expect(plan.sections).toHaveLength(10);
    const answered = plan.sections.slice(0, 8).map((s, i) => ({ section: s.section, direction: 'sendonly' as const, codecs: s.answerCodecs, extensions: s.answerExtensions, msid: `slot-${i >> 1} ${s.kind}` }));
    const sdp = parseSdp(writeAnswer(o, local, answered, '7'));
    expect(sdp.session).toContain('a=group:BUNDLE 0 1 2 3 4 5 6 7');
    expect(sdp.media.slice(0, 8).every((m) => m.port === 40000 && m.lines.includes('a=sendonly'))).toBe(true);
    expect(sdp.media.slice(8).map((m) => [m.port, m.lines.includes('a=inactive')])).toEqual([[0, true], [0, true]]);
    expect(sdp.media[1]!.formats).toEqual(['96', '108']);
    expect(attributes(sdp.media[1]!.lines, 'msid')).toEqual(['slot-0 video']);
  });

  it('a sending offer, one without a common codec, or one numbering VP8 otherwise (Firefox: 120) is refused, and says how the server numbers', () => {
    expect(refusal(() => planEgress(readOffer(offer([audioSection('0', 'sendonly')])), caps))).toMatchObject({ status: 422 });
    expect(refusal(() => planEgress(readOffer(offer([videoSection('0', 'recvonly', 'vp9-only')])), caps))).toMatchObject({ status: 406 });
    const firefox = refusal(() => planEgress(readOffer(offer([videoSection('0', 'recvonly', 'firefox')])), caps));
    expect(firefox).toMatchObject({ status: 406, code: 'no-common-codec' });
    expect(firefox.message).toContain('VP8 as 96');
  });
});

describe('malformed offers', () => {
  it('every truncation and line-level mutation of an offer is either planned or refused with a NegotiationError, never another error', () => {
    const lines = offer([audioSection('0', 'sendonly', 1111), videoSection('1', 'sendonly', 'chrome', 2222)]).split('\r\n');
    const variants: string[] = [];
    for (let i = 1; i <= lines.length; i++) variants.push(lines.slice(0, i).join('\r\n'));
    for (let i = 0; i < lines.length; i++) {
      for (const mutate of [(l: string) => l.slice(0, 3), (l: string) => l.replace(/\d+/g, 'x'), (l: string) => l.replace(/:/g, ''), (l: string) => `${l} ${l}`, () => '']) {
        variants.push([...lines.slice(0, i), mutate(lines[i]!), ...lines.slice(i + 1)].join('\r\n'));
      }
    }
    let refused = 0;
    for (const text of variants) {
      try {
        planIngest(readOffer(text), caps);
        planEgress(readOffer(text.replace(/a=sendonly/g, 'a=recvonly')), caps);
      } catch (err) {
        if (!(err instanceof NegotiationError)) throw new Error(`${(err as Error).name}: ${(err as Error).message} for ${JSON.stringify(text.slice(0, 200))}`, { cause: err });
        refused++;
      }
    }
    // Both outcomes occur: the check above ran on refusals and on offers that still make sense.
    expect(refused).toBeGreaterThan(0);
    expect(refused).toBeLessThan(variants.length);
  });
});

describe('ICE restart fragments (RFC 8840)', () => {
  it('reads new credentials from a PATCH body and answers with ours', () => {
    expect(readFragmentIce('a=ice-ufrag:new1\r\na=ice-pwd:newpassword\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n')).toEqual({ usernameFragment: 'new1', password: 'newpassword' });
    expect(readFragmentIce('a=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n')).toBeUndefined();
    const frag = writeRestartFragment(local, { kind: 'audio', proto: 'UDP/TLS/RTP/SAVPF', mid: '0' });
    expect(frag.split('\r\n')).toEqual(expect.arrayContaining(['a=ice-ufrag:srvufrag', 'a=ice-pwd:srvpwd', 'm=audio 9 UDP/TLS/RTP/SAVPF 0', 'a=mid:0', 'a=end-of-candidates']));
  });
});
