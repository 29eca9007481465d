import type { RTCPeerConnection } from 'werift';
import type { types as ms } from 'mediasoup';
import { answerWithWerift, plainCapabilitiesFrom } from '../../loadtest/media/weriftViewer.js';

/**
 * A genuine WebRTC receiver in Node (werift: ICE + DTLS + SRTP), for one
 * mediasoup consumer on a WebRtcTransport. The SDP and werift parts live in
 * loadtest/media/weriftViewer.ts (the load bots use them through signaling).
 */
export interface WeriftViewer {
  pc: RTCPeerConnection;
  packets: () => number;
  close(): Promise<void>;
}

/** Capabilities that make mediasoup consume plainly: one codec, no RTX, no header extensions. */
export function plainCapabilities(router: ms.Router, mimeType: string): ms.RtpCapabilities {
  return plainCapabilitiesFrom(router.rtpCapabilities, [mimeType]);
}

export async function connectWeriftViewer(transport: ms.WebRtcTransport, consumer: ms.Consumer): Promise<WeriftViewer> {
  let packets = 0;
  const { pc, dtlsParameters } = await answerWithWerift(transport, [consumer], () => packets++);
  await transport.connect({ dtlsParameters });
  return { pc, packets: () => packets, close: () => pc.close() };
}
