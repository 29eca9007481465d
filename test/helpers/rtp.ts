import dgram from 'node:dgram';

/** RFC 5761: RTCP packet types 192-223 share the second byte with RTP payload types. */
export function isRtcp(packet: Buffer): boolean {
  const pt = packet[1] ?? 0;
  return pt >= 192 && pt <= 223;
}

/** A UDP sink on 127.0.0.1 that counts RTP packets per SSRC. */
export async function createRtpSink(): Promise<{ port: number; rtp: Map<number, number>; total(): number; close(): void }> {
  const socket = dgram.createSocket('udp4');
  const rtp = new Map<number, number>();
  socket.on('message', (msg) => {
    if (msg.length < 12 || isRtcp(msg)) return;
    const ssrc = msg.readUInt32BE(8);
    rtp.set(ssrc, (rtp.get(ssrc) ?? 0) + 1);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    rtp,
    total: () => [...rtp.values()].reduce((a, b) => a + b, 0),
    close: () => socket.close(),
  };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
