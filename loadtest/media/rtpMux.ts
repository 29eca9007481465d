import dgram from 'node:dgram';

/**
 * Joins several RTP senders into one: every datagram arriving on any of its input ports is
 * sent on, from one socket, to each target. A simulcast ingest needs this: its layers come
 * from separate ffmpeg outputs (one socket each), but a comedia PlainTransport takes packets
 * from the first source address only.
 */
export interface RtpMux {
  /** Ports the senders send to, one per input. */
  ports: number[];
  /** A port that takes and drops what is sent to it: the senders' RTCP (ffmpeg's RTP muxer sends it beside the RTP). */
  discardPort: number;
  close(): void;
}

export async function startRtpMux(inputs: number, targets: { ip: string; port: number }[]): Promise<RtpMux> {
  const out = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => out.bind(0, '127.0.0.1', resolve));
  const ins = await Promise.all(
    Array.from({ length: inputs }, async () => {
      const s = dgram.createSocket('udp4');
      s.on('message', (msg) => {
        for (const t of targets) out.send(msg, t.port, t.ip);
      });
      await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
      return s;
    }),
  );
  const discard = dgram.createSocket('udp4');
  discard.on('message', () => undefined);
  await new Promise<void>((resolve) => discard.bind(0, '127.0.0.1', resolve));
  return {
    ports: ins.map((s) => s.address().port),
    discardPort: discard.address().port,
    close: () => {
      for (const s of [...ins, out, discard]) s.close();
    },
  };
}
