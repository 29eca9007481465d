import { RTCPeerConnection, type RTCRtpTransceiver } from 'werift';
import type { types as ms } from 'mediasoup';

/**
 * A genuine WebRTC receiver in Node (werift: ICE + DTLS + SRTP), for one
 * mediasoup consumer on a WebRtcTransport. mediasoup is ICE-lite and offers;
 * werift answers, and its DTLS fingerprint connects the transport.
 */
export interface WeriftViewer {
  pc: RTCPeerConnection;
  packets: () => number;
  close(): Promise<void>;
}

function offerFor(transport: ms.WebRtcTransport, consumer: ms.Consumer): string {
  const codec = consumer.rtpParameters.codecs[0]!;
  const [, codecName] = codec.mimeType.split('/');
  const ssrc = consumer.rtpParameters.encodings![0]!.ssrc!;
  const fp = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256')!;
  const candidates = transport.iceCandidates
    .filter((c) => c.protocol === 'udp')
    .map((c) => `a=candidate:${c.foundation} 1 udp ${c.priority} ${c.address} ${c.port} typ host`);
  const fmtp = Object.entries(codec.parameters ?? {}).map(([k, v]) => `${k}=${v}`).join(';');
  return [
    'v=0',
    'o=mediasoup 1 1 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=fingerprint:sha-256 ${fp.value}`,
    'a=group:BUNDLE 0',
    'a=msid-semantic: WMS *',
    `m=${consumer.kind} 7 UDP/TLS/RTP/SAVPF ${codec.payloadType}`,
    'c=IN IP4 127.0.0.1',
    'a=mid:0',
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
    '',
  ].join('\r\n');
}

/** Capabilities that make mediasoup consume plainly: one codec, no RTX, no header extensions. */
export function plainCapabilities(router: ms.Router, mimeType: string): ms.RtpCapabilities {
  const codec = router.rtpCapabilities.codecs!.find((c) => c.mimeType.toLowerCase() === mimeType.toLowerCase());
  if (!codec) throw new Error(`router has no ${mimeType}`);
  return { codecs: [{ ...codec, rtcpFeedback: (codec.rtcpFeedback ?? []).filter((f) => f.type === 'nack' || f.type === 'ccm') }], headerExtensions: [] };
}

export async function connectWeriftViewer(transport: ms.WebRtcTransport, consumer: ms.Consumer): Promise<WeriftViewer> {
  const pc = new RTCPeerConnection({
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    // Loopback only: never try a pair that leaves the machine.
    iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === '127.0.0.1',
  });
  let packets = 0;
  pc.onTransceiverAdded.subscribe((t: RTCRtpTransceiver) => {
    t.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe(() => packets++);
    });
  });
  await pc.setRemoteDescription({ type: 'offer', sdp: offerFor(transport, consumer) });
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  const sdp = pc.localDescription!.sdp;
  const fingerprint = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
  const setup = /a=setup:(\w+)/.exec(sdp)?.[1];
  if (!fingerprint) throw new Error('werift answer has no DTLS fingerprint');
  await transport.connect({
    dtlsParameters: {
      // werift is "active" (DTLS client) when it answers actpass, so mediasoup is the server.
      role: setup === 'passive' ? 'server' : 'client',
      fingerprints: [{ algorithm: fingerprint[1] as ms.FingerprintAlgorithm, value: fingerprint[2]! }],
    },
  });
  return { pc, packets: () => packets, close: () => pc.close() };
}
