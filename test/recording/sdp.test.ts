import { describe, expect, it } from 'vitest';
import { codecName, containerFor, recordingSdp } from '../../src/recording/sdp.js';

describe('recording SDP', () => {
  it('describes one m-line per track on 127.0.0.1, with its payload type, clock rate and parameters', () => {
    const sdp = recordingSdp([
      { kind: 'audio', port: 40000, codec: { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2, parameters: { useinbandfec: 1 } } },
      { kind: 'video', port: 40002, codec: { mimeType: 'video/H264', payloadType: 103, clockRate: 90000, parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' } } },
      { kind: 'video', port: 40004, codec: { mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 } },
    ]);
    expect(sdp.split('\r\n')).toEqual([
      'v=0',
      'o=- 0 0 IN IP4 127.0.0.1',
      's=Fourcast recording',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      'm=audio 40000 RTP/AVP 100',
      'a=rtpmap:100 opus/48000/2',
      'a=fmtp:100 useinbandfec=1',
      'a=recvonly',
      'm=video 40002 RTP/AVP 103',
      'a=rtpmap:103 H264/90000',
      'a=fmtp:103 packetization-mode=1;profile-level-id=42e01f',
      'a=recvonly',
      'm=video 40004 RTP/AVP 101',
      'a=rtpmap:101 VP8/90000',
      'a=recvonly',
      '',
    ]);
  });

  it('puts VP8/VP9/AV1 and Opus into WebM, anything else into Matroska', () => {
    expect(containerFor(['video/VP8', 'audio/opus'])).toEqual({ format: 'webm', extension: 'webm' });
    expect(containerFor(['audio/opus'])).toEqual({ format: 'webm', extension: 'webm' });
    expect(containerFor(['video/H264', 'audio/opus'])).toEqual({ format: 'matroska', extension: 'mkv' });
    expect(codecName('video/VP8')).toBe('VP8');
  });
});
