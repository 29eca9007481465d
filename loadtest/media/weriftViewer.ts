import { RTCPeerConnection, type RTCRtpTransceiver, type RtpPacket } from 'werift';
import type { types as ms } from 'mediasoup';

/**
 * A genuine WebRTC receiver in Node (werift: ICE + DTLS + SRTP) for mediasoup
 * consumers on one WebRtcTransport. mediasoup is ICE-lite and offers; werift
 * answers, and its DTLS fingerprint is what connects the transport. Shared by
 * the integration tests (test/helpers/weriftViewer.ts) and the load bots.
 */

/** What a client learns about a server transport (mediasoup objects and the signaling protocol both fit). */
export interface RemoteTransport {
  iceParameters: { usernameFragment: string; password: string };
  iceCandidates: { foundation: string; priority: number; address?: string; ip?: string; port: number; protocol: string }[];
  dtlsParameters: { fingerprints: { algorithm: string; value: string }[] };
}

/** What a client learns about a server consumer. */
export interface RemoteConsumer {
  id: string;
  kind: 'audio' | 'video';
  rtpParameters: ms.RtpParameters;
}

/** An SDP offer with one bundled m-section per consumer. */
export function offerSdp(transport: RemoteTransport, consumers: RemoteConsumer[]): string {
  const fp = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256');
  if (!fp) throw new Error('transport has no sha-256 DTLS fingerprint');
  const candidates = transport.iceCandidates
    .filter((c) => c.protocol === 'udp')
    .map((c) => `a=candidate:${c.foundation} 1 udp ${c.priority} ${c.address ?? c.ip} ${c.port} typ host`);
  const mids = consumers.map((c, i) => c.rtpParameters.mid ?? String(i));
  const sections = consumers.flatMap((consumer, i) => {
    const codec = consumer.rtpParameters.codecs[0]!;
    const [, codecName] = codec.mimeType.split('/');
    const ssrc = consumer.rtpParameters.encodings![0]!.ssrc!;
    const fmtp = Object.entries(codec.parameters ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(';');
    return [
      `m=${consumer.kind} 7 UDP/TLS/RTP/SAVPF ${codec.payloadType}`,
      'c=IN IP4 127.0.0.1',
      `a=mid:${mids[i]}`,
      'a=sendonly',
      `a=ice-ufrag:${transport.iceParameters.usernameFragment}`,
      `a=ice-pwd:${transport.iceParameters.password}`,
      ...candidates,
      'a=end-of-candidates',
      'a=setup:actpass',
      'a=rtcp-mux',
      'a=rtcp-rsize',
      `a=rtpmap:${codec.payloadType} ${codecName}/${codec.clockRate}${codec.channels ? `/${codec.channels}` : ''}`,
      ...(fmtp ? [`a=fmtp:${codec.payloadType} ${fmtp}`] : []),
      ...(codec.rtcpFeedback ?? []).map((fb) => `a=rtcp-fb:${codec.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`),
      `a=ssrc:${ssrc} cname:${consumer.rtpParameters.rtcp?.cname ?? 'fourcast'}`,
      `a=ssrc:${ssrc} msid:fourcast ${consumer.id}`,
    ];
  });
  return [
    'v=0',
    'o=mediasoup 1 1 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=fingerprint:sha-256 ${fp.value}`,
    `a=group:BUNDLE ${mids.join(' ')}`,
    'a=msid-semantic: WMS *',
    ...sections,
    '',
  ].join('\r\n');
}

/**
 * Capabilities that make mediasoup consume plainly: the named codecs with only
 * NACK/PLI/FIR feedback, no RTX, no header extensions (werift needs nothing more).
 */
export function plainCapabilitiesFrom(caps: ms.RtpCapabilities, mimeTypes: string[]): ms.RtpCapabilities {
  const wanted = new Set(mimeTypes.map((m) => m.toLowerCase()));
  const codecs = (caps.codecs ?? [])
    .filter((c) => wanted.has(c.mimeType.toLowerCase()))
    .map((c) => ({ ...c, rtcpFeedback: (c.rtcpFeedback ?? []).filter((f) => f.type === 'nack' || f.type === 'ccm') }));
  if (codecs.length === 0) throw new Error(`no codec among ${mimeTypes.join(', ')}`);
  return { codecs, headerExtensions: [] };
}

export interface WeriftAnswer {
  pc: RTCPeerConnection;
  /** What to pass to the server transport's connect (mediasoup's DtlsParameters). */
  dtlsParameters: ms.DtlsParameters;
}

/**
 * Answers mediasoup's offer with werift. `onRtp` sees every decrypted RTP
 * packet. Loopback only by default: no candidate pair leaves the machine.
 */
export async function answerWithWerift(
  transport: RemoteTransport,
  consumers: RemoteConsumer[],
  onRtp: (rtp: RtpPacket) => void,
  opts: { host?: string } = {},
): Promise<WeriftAnswer> {
  const host = opts.host ?? '127.0.0.1';
  const pc = new RTCPeerConnection({
    iceInterfaceAddresses: { udp4: host },
    iceAdditionalHostAddresses: [host],
    iceUseIpv6: false,
    iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === host,
  });
  pc.onTransceiverAdded.subscribe((t: RTCRtpTransceiver) => {
    t.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe(onRtp);
    });
  });
  await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp(transport, consumers) });
  await pc.setLocalDescription(await pc.createAnswer());
  const sdp = pc.localDescription!.sdp;
  const fingerprint = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
  const setup = /a=setup:(\w+)/.exec(sdp)?.[1];
  if (!fingerprint) throw new Error('werift answer has no DTLS fingerprint');
  return {
    pc,
    dtlsParameters: {
      // werift is "active" (DTLS client) when it answers actpass, so mediasoup is the server.
      role: setup === 'passive' ? 'server' : 'client',
      fingerprints: [{ algorithm: fingerprint[1] as ms.FingerprintAlgorithm, value: fingerprint[2]! }],
    },
  };
}
