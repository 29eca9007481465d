import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { startVp8Source, type RtpSource } from './ffmpeg.js';
import { freePortRange } from './ports.js';

/**
 * A WHIP client that is not a browser: werift (ICE, DTLS and SRTP in
 * TypeScript) offers one sendonly VP8 section and sends ffmpeg's test pattern,
 * which werift re-stamps with its own SSRC and payload type. Loopback only.
 */
export interface WeriftPublisher {
  status: number;
  body: string;
  location?: string;
  pc: RTCPeerConnection;
  close(): Promise<void>;
}

export async function weriftWhipPublish(endpoint: string, token: string): Promise<WeriftPublisher> {
  const host = '127.0.0.1';
  const pc = new RTCPeerConnection({
    codecs: {
      video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] })],
      audio: [],
    },
    iceInterfaceAddresses: { udp4: host },
    iceAdditionalHostAddresses: [host],
    iceUseIpv6: false,
    iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === host,
  });
  const track = new MediaStreamTrack({ kind: 'video' });
  pc.addTransceiver(track, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: `Bearer ${token}` }, body: pc.localDescription!.sdp });
  const body = await res.text();
  if (res.status !== 201) {
    await pc.close();
    return { status: res.status, body, pc, close: async () => undefined };
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  const location = new URL(res.headers.get('location')!, endpoint).href;

  // ffmpeg → a local socket → werift's track (which encrypts and sends it to the server).
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  socket.on('message', (packet) => {
    // RTP only (ffmpeg sends its RTCP to another port; 192-223 would be RTCP).
    if (packet.length > 12 && (packet[1]! < 192 || packet[1]! > 223)) track.writeRtp(packet);
  });
  const rtcpPort = await freePortRange(1);
  const source: RtpSource = startVp8Source({ rtpPort: (socket.address() as AddressInfo).port, rtcpPort, kbps: 250 });
  return {
    status: 201,
    body,
    location,
    pc,
    async close() {
      await fetch(location, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
      await source.stop();
      socket.close();
      await pc.close();
    },
  };
}
