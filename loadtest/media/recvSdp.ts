import type { types as ms } from 'mediasoup';

/**
 * The SDP offer a browser's receive transport gets from mediasoup-client: one m-section per
 * consumer on one BUNDLE, mediasoup as the ICE-lite, DTLS `actpass` side, plus the "probator"
 * m-section mediasoup-client adds with the first video consumer. Built from the transport's
 * ICE/DTLS parameters and the consumers' RTP parameters as the server returns them, so a plain
 * WebRTC stack (loadtest/media/webrtcsink) can receive them like Chromium.
 */

/**
 * mediasoup probes for bandwidth with padding packets on this SSRC (payload type 127). A
 * receiver that does not know the stream drops them before its transport-cc feedback sees
 * them, so mediasoup's estimate never grows past its start and simulcast consumers stay on
 * low layers; mediasoup-client declares it for that reason, and so does this offer.
 */
export const PROBATOR_SSRC = 1234;
const PROBATOR_PT = 127;
export interface RecvTransportParams {
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

export interface RecvConsumer {
  kind: 'audio' | 'video';
  rtpParameters: ms.RtpParameters;
}

export function recvOffer(transport: RecvTransportParams, consumers: RecvConsumer[]): string {
  const video = consumers.find((c) => c.kind === 'video');
  if (video) {
    // mediasoup-client's probator: the first video consumer's first codec and header extensions, on payload type 127.
    const codec = video.rtpParameters.codecs[0]!;
    consumers = [
      ...consumers,
      {
        kind: 'video',
        rtpParameters: {
          mid: 'probator',
          codecs: [{ ...codec, payloadType: PROBATOR_PT, rtcpFeedback: [] }],
          headerExtensions: video.rtpParameters.headerExtensions ?? [],
          encodings: [{ ssrc: PROBATOR_SSRC }],
          rtcp: { cname: 'probator' },
        },
      },
    ];
  }
  const mids = consumers.map((c, i) => c.rtpParameters.mid === 'probator' ? 'probator' : String(i));
  const fp = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0];
  if (!fp) throw new Error('the transport has no DTLS fingerprint');
  const lines = ['v=0', 'o=- 10000 1 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=ice-lite', `a=fingerprint:${fp.algorithm} ${fp.value.toUpperCase()}`, 'a=msid-semantic: WMS *', `a=group:BUNDLE ${mids.join(' ')}`];
  consumers.forEach((c, i) => {
    const mid = mids[i]!;
    const p = c.rtpParameters;
    const pts = p.codecs.map((x) => x.payloadType);
    lines.push(`m=${c.kind} 7 UDP/TLS/RTP/SAVPF ${pts.join(' ')}`, 'c=IN IP4 127.0.0.1', `a=mid:${mid}`, 'a=sendonly');
    lines.push(`a=ice-ufrag:${transport.iceParameters.usernameFragment}`, `a=ice-pwd:${transport.iceParameters.password}`);
    for (const cand of transport.iceCandidates) {
      const tcp = cand.protocol === 'tcp' ? ` tcptype ${cand.tcpType ?? 'passive'}` : '';
      lines.push(`a=candidate:${cand.foundation} 1 ${cand.protocol} ${cand.priority} ${cand.address} ${cand.port} typ ${cand.type}${tcp}`);
    }
    lines.push('a=end-of-candidates', 'a=setup:actpass', 'a=rtcp-mux', 'a=rtcp-rsize');
    for (const codec of p.codecs) {
      const [, name] = codec.mimeType.split('/');
      lines.push(`a=rtpmap:${codec.payloadType} ${name}/${codec.clockRate}${codec.channels && codec.channels > 1 ? `/${codec.channels}` : ''}`);
      const fmtp = Object.entries(codec.parameters ?? {}).map(([k, v]) => `${k}=${String(v)}`);
      if (fmtp.length) lines.push(`a=fmtp:${codec.payloadType} ${fmtp.join(';')}`);
      for (const fb of codec.rtcpFeedback ?? []) lines.push(`a=rtcp-fb:${codec.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`);
    }
    for (const ext of p.headerExtensions ?? []) lines.push(`a=extmap:${ext.id} ${ext.uri}`);
    const enc = p.encodings?.[0];
    if (!enc?.ssrc) throw new Error('a consumer without an SSRC');
    const cname = p.rtcp?.cname ?? 'fourcast';
    const msid = `fourcast-${mid} track-${mid}`;
    if (enc.rtx?.ssrc) lines.push(`a=ssrc-group:FID ${enc.ssrc} ${enc.rtx.ssrc}`);
    for (const ssrc of [enc.ssrc, enc.rtx?.ssrc].filter((x): x is number => Boolean(x))) lines.push(`a=ssrc:${ssrc} cname:${cname}`, `a=ssrc:${ssrc} msid:${msid}`);
    lines.push(`a=msid:${msid}`);
  });
  return lines.join('\r\n') + '\r\n';
}

/** The answer's DTLS side, as mediasoup's `connect` wants it (the answerer is the DTLS client). */
export function answerDtls(sdp: string): ms.DtlsParameters {
  const m = /^a=fingerprint:(\S+) (\S+)/m.exec(sdp);
  if (!m) throw new Error('the answer has no fingerprint');
  const setup = /^a=setup:(\w+)/m.exec(sdp)?.[1] ?? 'active';
  return { role: setup === 'passive' ? 'server' : 'client', fingerprints: [{ algorithm: m[1] as ms.FingerprintAlgorithm, value: m[2]! }] };
}
