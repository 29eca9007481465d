import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaProbes } from '../../src/loadtools/probes.js';
import type { RecordingInfo } from '../../src/recording/manifest.js';
import { Recordings } from '../../src/recording/recordings.js';
import type { SegmentInfo } from '../../src/recording/segment.js';
import type { Fourcast } from '../../src/server.js';
import { ffprobe, startOpusSource, startVp8Source } from '../helpers/ffmpeg.js';
import { goLive, type LiveBroadcaster } from '../helpers/liveStage.js';
import { silentLog } from '../helpers/pool.js';
import { createRtpSink, waitFor } from '../helpers/rtp.js';
import { startTestNode } from '../helpers/server.js';
import { TestClient } from '../helpers/wsClient.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes whose command line mentions `needle` (the encoders of one recording folder). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) pids.push(Number(pid));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

function readManifest(info: RecordingInfo): RecordingInfo & { version: number } {
  return JSON.parse(fs.readFileSync(path.join(info.folder, 'manifest.json'), 'utf8')) as RecordingInfo & { version: number };
}

/** ffprobe's view of a segment's file: its codecs by kind and its duration. */
function probeSegment(info: RecordingInfo, seg: SegmentInfo) {
  const probed = ffprobe(path.join(info.folder, seg.file));
  const codecs = Object.fromEntries(probed.streams.map((s) => [s.codec_type, s.codec_name]));
  return { codecs, duration: probed.duration, format: probed.formatName };
}

describe('recording a live stage (real worker, ffmpeg broadcasters and encoders)', () => {
  let node: Fourcast;
  let probes: MediaProbes;
  let dir: string;
  let recordings: Recordings;
  const failures: string[] = [];
  /** Output paths the next segments should be written to instead (disk-full test). */
  const redirect = new Map<string, string>();

  beforeAll(async () => {
    node = await startTestNode();
    probes = new MediaProbes({ rooms: node.rooms, listenIp: '127.0.0.1', log: silentLog });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-rec-'));
    recordings = new Recordings({
      rooms: node.rooms,
      dir,
      ffmpeg: 'ffmpeg',
      log: silentLog,
      settleMs: 1000,
      onFailure: (reason) => failures.push(reason),
      onFile: (file) => {
        const target = redirect.get(path.basename(file).replace(/^\d+-/, ''));
        if (target) fs.symlinkSync(target, file);
      },
    });
  });
  afterAll(async () => {
    await recordings?.close();
    await node?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes one file per broadcaster: VP8 and Opus tracks, a duration within 1 s of the wall clock, closed cleanly by stop', async () => {
    const room = 'rec-ten-seconds';
    const stage = [await goLive(probes, room, 'Alice', 1000), await goLive(probes, room, 'Bob', 2000)];
    try {
      // Media flowing into the stage before the recording starts.
      await sleep(1500);
      const started = await recordings.start(room);
      const t0 = Date.now();
      expect(started).toMatchObject({ room, state: 'recording', stopReason: null });
      expect(started.segments.map((s) => s.name).sort()).toEqual(['Alice', 'Bob']);
      for (const s of started.segments) {
        expect(s).toMatchObject({ state: 'recording', endReason: null, error: null, exit: null });
        expect(s.pid).toBeGreaterThan(0);
        expect(s.tracks.map((t) => `${t.kind}:${t.codec}`).sort()).toEqual(['audio:opus', 'video:VP8']);
      }
      // The manifest is on disk from the start, and already lists the running segments.
      expect(readManifest(started)).toMatchObject({ version: 1, room, state: 'recording' });
      await sleep(10_000);
      const t1 = Date.now();
      const stopped = await recordings.stop(room);
      const wall = (t1 - t0) / 1000;

      expect(stopped).toMatchObject({ state: 'stopped', stopReason: 'stopped' });
      expect(readManifest(stopped)).toEqual({ version: 1, ...stopped });
      expect(stopped.stoppedAtMs! - stopped.startedAtMs).toBeGreaterThanOrEqual(10_000);
      const lines: string[] = [];
      for (const seg of stopped.segments) {
        // Stop ended ffmpeg with `q`: exit 0, a file ffprobe reads with both tracks and a duration.
        expect(seg).toMatchObject({ state: 'ended', endReason: 'stopped', error: null, exit: { code: 0, signal: null } });
        expect(seg.bytes).toBeGreaterThan(50_000);
        expect(seg.file).toMatch(/^\d{3}-(Alice|Bob)\.webm$/);
        const probed = probeSegment(stopped, seg);
        expect(probed.format).toContain('webm');
        expect(probed.codecs).toEqual({ video: 'vp8', audio: 'opus' });
        expect(probed.duration).toBeDefined();
        const manifestSpan = (seg.endedAtMs! - seg.startedAtMs!) / 1000;
        lines.push(`${seg.file}: ffprobe ${probed.duration!.toFixed(3)} s, wall clock ${wall.toFixed(3)} s, manifest ${manifestSpan.toFixed(3)} s`);
        expect(Math.abs(probed.duration! - wall), lines.at(-1)).toBeLessThan(1);
        // The manifest's timings tell the same story: the segment spans the recording.
        expect(Math.abs(manifestSpan - probed.duration!), lines.at(-1)).toBeLessThan(1);
        expect(seg.startedAtMs!).toBeGreaterThanOrEqual(stopped.startedAtMs);
        expect(seg.endedAtMs!).toBeLessThanOrEqual(stopped.stoppedAtMs! + 100);
      }
      console.log(`10 s recording: ${lines.join('; ')}`);
      // Every encoder of the recording has exited.
      expect(processesMentioning(stopped.folder)).toEqual([]);
      await expect(recordings.stop(room)).rejects.toMatchObject({ code: 'not-found' });
    } finally {
      await recordings.stop(room).catch(() => undefined);
      for (const b of stage) await b.leave();
    }
  }, 60_000);

  it('a broadcaster who leaves and rejoins the stage gets a second segment; both files are valid', async () => {
    const room = 'rec-rejoin';
    let carol: LiveBroadcaster = await goLive(probes, room, 'Carol', 3000);
    const dave = await goLive(probes, room, 'Dave', 4000);
    try {
      await sleep(500);
      await recordings.start(room);
      await sleep(3000);
      await carol.leave();
      // Her segment ends at once (left-stage); Dave's goes on.
      await waitFor(() => recordings.get(room)!.segments.some((s) => s.name === 'Carol' && s.endReason === 'left-stage'), 10_000, 'Carol’s segment to end');
      await sleep(1000);
      carol = await goLive(probes, room, 'Carol', 3100);
      await waitFor(() => recordings.get(room)!.segments.filter((s) => s.name === 'Carol').length === 2 && recordings.get(room)!.segments.every((s) => s.state !== 'failed'), 15_000, 'Carol’s second segment');
      await waitFor(() => recordings.get(room)!.segments.find((s) => s.name === 'Carol' && s.state === 'recording') !== undefined, 15_000, 'Carol recording again');
      await sleep(4000);
      const info = await recordings.stop(room);
      const carols = info.segments.filter((s) => s.name === 'Carol');
      expect(carols.map((s) => s.endReason)).toEqual(['left-stage', 'stopped']);
      expect(carols[0]!.peerId).not.toBe(carols[1]!.peerId);
      expect(carols[1]!.startedAtMs!).toBeGreaterThan(carols[0]!.endedAtMs!);
      expect(info.segments.filter((s) => s.name === 'Dave').map((s) => s.endReason)).toEqual(['stopped']);
      for (const seg of carols) {
        expect(seg.error, JSON.stringify(info.segments)).toBeNull();
        const probed = probeSegment(info, seg);
        expect(probed.codecs).toEqual({ video: 'vp8', audio: 'opus' });
        const span = (seg.endedAtMs! - seg.startedAtMs!) / 1000;
        expect(Math.abs(probed.duration! - span), `${seg.file}: ffprobe ${probed.duration} s, manifest ${span} s`).toBeLessThan(1);
      }
      expect(readManifest(info).segments.map((s) => s.file)).toEqual(info.segments.map((s) => s.file));
    } finally {
      await recordings.stop(room).catch(() => undefined);
      await carol.leave();
      await dave.leave();
    }
  }, 60_000);

  it('a camera added mid-segment starts a new segment with both tracks; the old one records until the new one does', async () => {
    const room = 'rec-tracks';
    const mic = await probes.startIngest(room, { kind: 'audio', name: 'Hana', payloadType: 100, ssrc: 8001, codec: 'opus' });
    const sources = [startOpusSource({ rtpPort: mic.rtpPort, rtcpPort: mic.rtcpPort, ssrc: 8001 })];
    try {
      await sleep(500);
      const started = await recordings.start(room);
      expect(started.segments.map((s) => s.tracks.map((t) => t.kind))).toEqual([['audio']]);
      await sleep(2000);
      const cam = await probes.startIngest(room, { kind: 'video', name: 'Hana', payloadType: 101, ssrc: 8000, codec: 'VP8' });
      sources.push(startVp8Source({ rtpPort: cam.rtpPort, rtcpPort: cam.rtcpPort, ssrc: 8000, kbps: 200 }));
      await waitFor(() => recordings.get(room)!.segments.some((s) => s.endReason === 'tracks-changed'), 15_000, 'the audio-only segment to be replaced');
      await sleep(3000);
      const info = await recordings.stop(room);
      const [audioOnly, both] = info.segments;
      expect(info.segments).toHaveLength(2);
      expect(audioOnly).toMatchObject({ peerId: mic.peerId, endReason: 'tracks-changed', error: null, exit: { code: 0 } });
      expect(both).toMatchObject({ peerId: mic.peerId, endReason: 'stopped', error: null, exit: { code: 0 } });
      expect(both!.tracks.map((t) => `${t.kind}:${t.codec}`).sort()).toEqual(['audio:opus', 'video:VP8']);
      // No gap: the old segment ended once the new one was recording.
      expect(audioOnly!.endedAtMs!).toBeGreaterThanOrEqual(both!.startedAtMs!);
      expect(probeSegment(info, audioOnly!).codecs).toEqual({ audio: 'opus' });
      expect(probeSegment(info, both!).codecs).toEqual({ video: 'vp8', audio: 'opus' });
    } finally {
      await recordings.stop(room).catch(() => undefined);
      for (const id of [mic.producerId, ...(node.rooms.get(room)?.stage.peers.flatMap((p) => [...p.producers.keys()]) ?? [])]) {
        try {
          probes.stopIngest(room, id);
        } catch {
          /* already stopped */
        }
      }
      await Promise.all(sources.map((x) => x.stop()));
    }
  }, 60_000);

  it('a camera paused when a segment begins is left out of it; once resumed it gets a new segment, and pausing it again changes nothing', async () => {
    const room = 'rec-paused';
    const ivy = await goLive(probes, room, 'Ivy', 9000);
    try {
      const stageRoom = node.rooms.get(room)!;
      const peer = stageRoom.peers.get(ivy.peerId)!;
      await stageRoom.stage.setPaused(peer, ivy.producers.video, true);
      await sleep(500);
      const started = await recordings.start(room);
      expect(started.segments.map((s) => s.tracks.map((t) => t.kind))).toEqual([['audio']]);
      await sleep(1500);
      await stageRoom.stage.setPaused(peer, ivy.producers.video, false);
      await waitFor(() => recordings.get(room)!.segments.some((s) => s.state === 'recording' && s.tracks.length === 2), 15_000, 'a segment with the camera');
      await sleep(2500);
      await stageRoom.stage.setPaused(peer, ivy.producers.video, true);
      await sleep(2000);
      const info = await recordings.stop(room);
      expect(info.segments.map((s) => [s.tracks.length, s.endReason])).toEqual([
        [1, 'tracks-changed'],
        [2, 'stopped'],
      ]);
      expect(probeSegment(info, info.segments[1]!).codecs).toEqual({ video: 'vp8', audio: 'opus' });
    } finally {
      await recordings.stop(room).catch(() => undefined);
      await ivy.leave();
    }
  }, 60_000);

  it('tells everyone in the room: a `recording` push on start and stop, and the join answer of a late joiner', async () => {
    const room = 'rec-notice';
    const kim = await goLive(probes, room, 'Kim', 10000);
    const early = await TestClient.connect(`${node.urls.ws}?room=${room}`);
    let late: TestClient | undefined;
    try {
      expect((await early.request('join', { name: 'Early' })).recording).toEqual({ active: false, since: null });
      const started = await recordings.start(room);
      const pushed = await early.waitFor('recording', (d) => d.active);
      expect(pushed.since).toBeGreaterThanOrEqual(started.startedAtMs);
      late = await TestClient.connect(`${node.urls.ws}?room=${room}`);
      expect((await late.request('join', { name: 'Late' })).recording).toEqual(pushed);
      await recordings.stop(room);
      for (const c of [early, late]) expect(await c.waitFor('recording', (d) => !d.active)).toEqual({ active: false, since: null });
    } finally {
      await recordings.stop(room).catch(() => undefined);
      early.close();
      late?.close();
      await kim.leave();
    }
  }, 60_000);

  it('a full disk is reported as disk-full, not restarted, and the stage stays live', async () => {
    const room = 'rec-disk-full';
    // Eve's file is /dev/full: every write fails with ENOSPC, as on a full disk.
    redirect.set('Eve.webm', '/dev/full');
    const eve = await goLive(probes, room, 'Eve', 5000);
    const sink = await createRtpSink();
    try {
      await sleep(500);
      failures.length = 0;
      await recordings.start(room);
      await waitFor(() => recordings.get(room)!.segments.some((s) => s.state === 'failed'), 20_000, 'the segment to fail');
      const seg = recordings.get(room)!.segments[0]!;
      expect(seg).toMatchObject({ state: 'failed', endReason: 'disk-full', exit: { code: 1 } });
      expect(seg.error).toMatch(/No space left on device/);
      expect(failures).toEqual(['disk-full']);
      // The stage is live: a consumer placed like a viewer receives Eve's video and audio.
      const [probe] = await probes.addProbes(room, { ip: '127.0.0.1', ports: [sink.port], srtp: false, placement: 'spread' });
      expect(probe!.consumers.map((c) => c.kind).sort()).toEqual(['audio', 'video']);
      await waitFor(() => probe!.consumers.every((c) => (sink.rtp.get(c.ssrc) ?? 0) > 20), 10_000, 'the stage to reach a viewer');
      // Not restarted into the same full disk.
      await sleep(1000);
      expect(recordings.get(room)!.segments).toHaveLength(1);
      expect((await recordings.stop(room)).segments).toHaveLength(1);
    } finally {
      await recordings.stop(room).catch(() => undefined);
      redirect.clear();
      sink.close();
      await eve.leave();
    }
  }, 60_000);

  it('a stop during a start, at any point of it, leaves no encoder and no transport behind', async () => {
    const room = 'rec-race';
    const frank = await goLive(probes, room, 'Frank', 6000);
    try {
      await sleep(500);
      const router = (await node.rooms.get(room)!.media.origin()).router;
      const baseline = (await router.dump()).transportIds.length;
      const outcomes: string[] = [];
      for (const delay of [0, 5, 20, 50, 100, 200, 400, 800]) {
        const start = recordings.start(room).then(
          (info) => `201 ${info.state}`,
          (err: { code?: string }) => `refused ${err.code}`,
        );
        await sleep(delay);
        const stop = recordings.stop(room).then(
          (info) => info,
          (err: { code?: string }) => err.code,
        );
        const [s, stopped] = await Promise.all([start, stop]);
        outcomes.push(`${delay} ms: ${s}`);
        // The start either was refused (stopped while starting) or got going before the stop.
        expect(['refused invalid-state', '201 recording']).toContain(s);
        if (typeof stopped === 'object') {
          expect(stopped.state).toBe('stopped');
          expect(processesMentioning(stopped.folder)).toEqual([]);
          for (const seg of stopped.segments) expect(seg.state).not.toBe('recording');
        }
        expect((await router.dump()).transportIds.length, `${delay} ms`).toBe(baseline);
        expect(processesMentioning(dir).length).toBe(0);
        expect(recordings.counts).toEqual({ recordings: 0, segments: 0 });
      }
      console.log(`stop during start: ${outcomes.join(', ')}`);
      // Both outcomes happened: the race was really run at both ends.
      expect(outcomes.some((o) => o.includes('refused'))).toBe(true);
      expect(outcomes.some((o) => o.includes('201'))).toBe(true);
    } finally {
      await frank.leave();
    }
  }, 60_000);

  it('two concurrent starts: one records, the other is refused; the recording ends with its room', async () => {
    const room = 'rec-concurrent';
    const gina = await goLive(probes, room, 'Gina', 7000);
    try {
      await sleep(500);
      const results = await Promise.allSettled([recordings.start(room), recordings.start(room), recordings.start(room)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
        expect(r.reason).toMatchObject({ code: 'invalid-state', message: expect.stringMatching(/already being recorded/) });
      }
      await waitFor(() => recordings.counts.segments === 1, 10_000, 'Gina’s segment');
      await sleep(3000);
      const folder = recordings.get(room)!.folder;
      node.rooms.get(room)!.close();
      await waitFor(() => recordings.get(room)?.state === 'stopped', 15_000, 'the recording to stop with its room');
      const info = recordings.get(room)!;
      expect(info.stopReason).toBe('room-closed');
      expect(info.segments).toHaveLength(1);
      expect(info.segments[0]!.state).toBe('ended');
      expect(processesMentioning(folder)).toEqual([]);
      expect(probeSegment(info, info.segments[0]!).codecs).toEqual({ video: 'vp8', audio: 'opus' });
      await expect(recordings.start(room)).rejects.toMatchObject({ code: 'not-found' });
    } finally {
      await gina.leave();
    }
  }, 60_000);
});
