import type { types as ms } from 'mediasoup';

/** One m-line: what a recording consumer sends and the port ffmpeg listens on for it. */
export interface SdpTrack {
  kind: ms.MediaKind;
  /** ffmpeg's RTP port; its RTCP port is the next one (ffmpeg's rule for an SDP without `a=rtcp`). */
  port: number;
  codec: Pick<ms.RtpCodecParameters, 'mimeType' | 'payloadType' | 'clockRate' | 'channels' | 'parameters'>;
}

/** The container a set of codecs goes into: WebM holds VP8, VP9, AV1 and Opus; anything else (H264) goes into Matroska. */
export function containerFor(mimeTypes: readonly string[]): { format: 'webm' | 'matroska'; extension: 'webm' | 'mkv' } {
  const webm = mimeTypes.every((m) => /^(video\/(vp8|vp9|av1)|audio\/opus)$/i.test(m));
  return webm ? { format: 'webm', extension: 'webm' } : { format: 'matroska', extension: 'mkv' };
}

/** `video/VP8` → `VP8`: the encoding name of an `a=rtpmap` line. */
export function codecName(mimeType: string): string {
  return mimeType.slice(mimeType.indexOf('/') + 1);
}

/**
 * The session description ffmpeg reads to receive a segment's RTP: one m-line
 * per track, on 127.0.0.1 (mediasoup and ffmpeg share the host). Codec
 * parameters go into `a=fmtp` as mediasoup negotiated them (H264 needs its
 * packetization mode; the rest are ignored by ffmpeg's depacketizers).
 */
export function recordingSdp(tracks: readonly SdpTrack[]): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=Fourcast recording', 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const { kind, port, codec } of tracks) {
    const pt = codec.payloadType;
    lines.push(`m=${kind} ${port} RTP/AVP ${pt}`);
    lines.push(`a=rtpmap:${pt} ${codecName(codec.mimeType)}/${codec.clockRate}${kind === 'audio' && codec.channels ? `/${codec.channels}` : ''}`);
    const fmtp = Object.entries(codec.parameters ?? {}).map(([k, v]) => `${k}=${String(v)}`);
    if (fmtp.length) lines.push(`a=fmtp:${pt} ${fmtp.join(';')}`);
    lines.push('a=recvonly');
  }
  return lines.join('\r\n') + '\r\n';
}
