import { spawn, type ChildProcess } from 'node:child_process';

export interface RtpSource {
  ssrc: number;
  payloadType: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Real VP8 over RTP from ffmpeg's test pattern, sent to 127.0.0.1. Small and
 * slow on purpose: it shares two cores with the SFU under test.
 */
export function startVp8Source(opts: { rtpPort: number; rtcpPort: number; ssrc?: number; payloadType?: number; kbps?: number }): RtpSource {
  const ssrc = opts.ssrc ?? 11111111;
  const payloadType = opts.payloadType ?? 101;
  const args = [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
    '-an', '-c:v', 'libvpx', '-b:v', `${opts.kbps ?? 300}k`, '-deadline', 'realtime', '-cpu-used', '8',
    '-g', '30', '-ssrc', String(ssrc), '-payload_type', String(payloadType),
    '-f', 'rtp', `rtp://127.0.0.1:${opts.rtpPort}?rtcpport=${opts.rtcpPort}&pkt_size=1200`,
  ];
  const proc = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let stopping = false;
  proc.on('exit', (code) => {
    if (code && !stopping) console.error(`ffmpeg exited with ${code}: ${stderr}`);
  });
  return {
    ssrc,
    payloadType,
    process: proc,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        stopping = true;
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
