import type { MediaProbes } from '../../src/loadtools/probes.js';
import { startOpusSource, startVp8Source, type RtpSource } from './ffmpeg.js';

export interface LiveBroadcaster {
  name: string;
  peerId: string;
  producers: { video: string; audio: string };
  ssrcs: { video: number; audio: number };
  /** Stops both ingests (the broadcaster leaves the stage) and their ffmpeg senders. */
  leave(): Promise<void>;
}

/**
 * A broadcaster made of real parts: two RTP ingests (MediaProbes, the same
 * comedia PlainTransports and stage slot as any broadcaster) fed by ffmpeg,
 * one VP8 (a 2 s key frame interval) and one Opus, under one display name.
 */
export async function goLive(probes: MediaProbes, room: string, name: string, ssrcBase: number): Promise<LiveBroadcaster> {
  const sources: RtpSource[] = [];
  const video = await probes.startIngest(room, { kind: 'video', name, payloadType: 101, ssrc: ssrcBase, codec: 'VP8' });
  sources.push(startVp8Source({ rtpPort: video.rtpPort, rtcpPort: video.rtcpPort, ssrc: ssrcBase, kbps: 200 }));
  const audio = await probes.startIngest(room, { kind: 'audio', name, payloadType: 100, ssrc: ssrcBase + 1, codec: 'opus' });
  sources.push(startOpusSource({ rtpPort: audio.rtpPort, rtcpPort: audio.rtcpPort, ssrc: ssrcBase + 1 }));
  return {
    name,
    peerId: video.peerId,
    producers: { video: video.producerId, audio: audio.producerId },
    ssrcs: { video: ssrcBase, audio: ssrcBase + 1 },
    async leave() {
      for (const id of [video.producerId, audio.producerId]) {
        try {
          probes.stopIngest(room, id);
        } catch {
          /* already gone with the room */
        }
      }
      await Promise.all(sources.map((s) => s.stop()));
    },
  };
}
