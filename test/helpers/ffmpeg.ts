import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

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
  return spawnRtpSender(args, ssrc, payloadType);
}

/**
 * Real Opus over RTP from ffmpeg's sine generator (48 kHz stereo, 20 ms
 * packets: 50 packets/s), sent to 127.0.0.1.
 */
export function startOpusSource(opts: { rtpPort: number; rtcpPort: number; ssrc?: number; payloadType?: number; frequency?: number }): RtpSource {
  const ssrc = opts.ssrc ?? 22222222;
  const payloadType = opts.payloadType ?? 100;
  const args = [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `sine=frequency=${opts.frequency ?? 440}:sample_rate=48000`,
    '-vn', '-ac', '2', '-c:a', 'libopus', '-b:a', '32k', '-frame_duration', '20',
    '-ssrc', String(ssrc), '-payload_type', String(payloadType),
    '-f', 'rtp', `rtp://127.0.0.1:${opts.rtpPort}?rtcpport=${opts.rtcpPort}`,
  ];
  return spawnRtpSender(args, ssrc, payloadType);
}

function spawnRtpSender(args: string[], ssrc: number, payloadType: number): RtpSource {
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

export interface ProbedFile {
  streams: { codec_type: string; codec_name: string }[];
  /** Seconds, from the container (absent when the file has none: not closed cleanly). */
  duration: number | undefined;
  formatName: string;
}

/** What ffprobe finds in a media file; throws with its message when it cannot read it. */
export function ffprobe(file: string): ProbedFile {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr || r.error?.message}`);
  const out = JSON.parse(r.stdout) as { streams: ProbedFile['streams']; format: { duration?: string; format_name: string } };
  return { streams: out.streams, duration: out.format.duration === undefined ? undefined : Number(out.format.duration), formatName: out.format.format_name };
}
