import type { types as ms } from 'mediasoup';

/** RTP parameters of a minimal VP8 / Opus sender, as a test peer announces them in `produce`. */
export const vp8 = (ssrc: number): ms.RtpParameters => ({
  mid: '0',
  codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, rtcpFeedback: [] }],
  encodings: [{ ssrc }],
  headerExtensions: [],
  rtcp: { cname: `c${ssrc}` },
});

export const opus = (ssrc: number): ms.RtpParameters => ({
  mid: '1',
  codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2, rtcpFeedback: [] }],
  encodings: [{ ssrc }],
  headerExtensions: [],
  rtcp: { cname: `a${ssrc}` },
});
