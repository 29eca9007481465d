import type { types as ms } from 'mediasoup';

/**
 * Codecs every router offers. VP8 first: it is what broadcasters send with
 * three simulcast layers and what every browser decodes. H264 is offered for
 * RTP ingest tools and WHIP encoders (OBS); Opus carries microphones.
 *
 * The payload types are the ones Chromium offers (Chrome, Edge and players
 * embedding its WebRTC): mediasoup sends with its router's numbers, and a WHEP
 * player's offer fixes the numbers its answer may use (whip/negotiate.ts), so
 * a player numbering codecs this way can watch. mediasoup-client follows
 * whatever the router says.
 */
export const mediaCodecs: ms.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 111 },
  {
    kind: 'video',
    mimeType: 'video/VP8',
    clockRate: 90000,
    preferredPayloadType: 96,
    parameters: { 'x-google-start-bitrate': 1000 },
  },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    preferredPayloadType: 108,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
];
