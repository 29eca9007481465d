/**
 * Hand-written WebRTC offers shaped like a browser's (Chromium's codec list,
 * feedback and extensions), for negotiation tests and for HTTP tests that need
 * a valid offer but never connect.
 */

export function audioSection(mid: string, direction: string, ssrc?: number): string[] {
  return [
    'm=audio 9 UDP/TLS/RTP/SAVPF 111 63',
    'c=IN IP4 0.0.0.0',
    `a=mid:${mid}`,
    `a=${direction}`,
    'a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:4 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 minptime=10;useinbandfec=1',
    'a=rtpmap:63 red/48000/2',
    ...(ssrc ? [`a=ssrc:${ssrc} cname:abc`] : []),
  ];
}

export function videoSection(mid: string, direction: string, codecs: 'chrome' | 'vp9-only' | 'h264-high' | 'firefox' | 'obs' | 'vp8-only' = 'chrome', ssrc?: number): string[] {
  const lines = [
    codecs === 'obs' ? 'm=video 9 UDP/TLS/RTP/SAVPF 96' : codecs === 'vp8-only' ? 'm=video 9 UDP/TLS/RTP/SAVPF 96' : codecs === 'chrome' ? 'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 108 45' : codecs === 'vp9-only' ? 'm=video 9 UDP/TLS/RTP/SAVPF 98 45' : codecs === 'firefox' ? 'm=video 9 UDP/TLS/RTP/SAVPF 120' : 'm=video 9 UDP/TLS/RTP/SAVPF 100',
    'c=IN IP4 0.0.0.0',
    `a=mid:${mid}`,
    `a=${direction}`,
    'a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid',
    'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
    'a=extmap:14 urn:3gpp:video-orientation',
  ];
  if (codecs === 'chrome') {
    lines.push('a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 goog-remb', 'a=rtcp-fb:96 transport-cc', 'a=rtcp-fb:96 ccm fir', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli', 'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96');
    lines.push('a=rtpmap:108 H264/90000', 'a=rtcp-fb:108 nack pli', 'a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f');
  }
  // OBS's WHIP output: H.264 constrained baseline, packetization mode 1, numbered 96.
  if (codecs === 'obs') lines.push('a=rtpmap:96 H264/90000', 'a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli');
  else if (codecs === 'vp8-only') lines.push('a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack pli');
  else if (codecs === 'firefox') lines.push('a=rtpmap:120 VP8/90000', 'a=rtcp-fb:120 nack pli');
  else if (codecs !== 'h264-high') lines.push('a=rtpmap:98 VP9/90000', 'a=fmtp:98 profile-id=0', 'a=rtpmap:45 AV1/90000');
  else lines.push('a=rtpmap:100 H264/90000', 'a=fmtp:100 packetization-mode=1;profile-level-id=640032');
  if (ssrc) lines.push(`a=ssrc-group:FID ${ssrc} ${ssrc + 1}`, `a=ssrc:${ssrc} cname:abc`, `a=ssrc:${ssrc + 1} cname:abc`);
  return lines;
}

export function offer(sections: string[][], session: string[] = []): string {
  const head = ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=ice-ufrag:Abcd', 'a=ice-pwd:0123456789abcdefghijklmn', 'a=fingerprint:sha-256 AA:BB:CC', 'a=setup:actpass', ...session];
  return [...head, ...sections.flat()].join('\r\n') + '\r\n';
}

