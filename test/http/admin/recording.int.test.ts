import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaProbes } from '../../../src/loadtools/probes.js';
import type { RecordingInfo } from '../../../src/recording/manifest.js';
import type { Fourcast } from '../../../src/server.js';
import { ffprobe } from '../../helpers/ffmpeg.js';
import { goLive, type LiveBroadcaster } from '../../helpers/liveStage.js';
import { expectAdminRoutesDocumented } from '../../helpers/openApi.js';
import { silentLog } from '../../helpers/pool.js';
import { createRtpSink, waitFor } from '../../helpers/rtp.js';
import { startTestNode } from '../../helpers/server.js';
import { TestClient } from '../../helpers/wsClient.js';

const ADMIN = 'recording-admin-token-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(node: Fourcast, method: string, url: string, opts: { body?: unknown; token?: string | null } = {}) {
  const token = opts.token === undefined ? ADMIN : opts.token;
  const res = await fetch(new URL(url, node.urls.http), {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function metric(node: Fourcast, series: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', node.urls.http))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

describe('admin recording routes (real HTTP, worker, ffmpeg)', () => {
  let node: Fourcast;
  let probes: MediaProbes;
  let dir: string;
  const recording = (room: string) => `/admin/rooms/${room}/recording`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-rec-http-'));
    node = await startTestNode({ ADMIN_TOKEN: ADMIN, RECORDING_DIR: dir });
    probes = new MediaProbes({ rooms: node.rooms, listenIp: '127.0.0.1', log: silentLog });
  });
  afterAll(async () => {
    await node?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('need the admin token on every route, before anything happens', async () => {
    const viewer = await TestClient.connect(`${node.urls.ws}?room=auth-room`);
    try {
      await viewer.request('join', { name: 'Vic' });
      for (const [method, url] of [
        ['POST', recording('auth-room')],
        ['DELETE', recording('auth-room')],
        ['GET', recording('auth-room')],
        ['GET', '/admin/recordings'],
      ] as const) {
        for (const token of [null, 'not-the-admin-token-at-all']) {
          const res = await call(node, method, url, { token });
          expect(res.status, `${method} ${url}`).toBe(401);
          expect(res.body).toMatchObject({ error: 'unauthorized' });
        }
      }
      expect(node.recordings.list()).toEqual([]);
    } finally {
      viewer.close();
    }
  });

  it('validate room names and bodies, and refuse what is not there', async () => {
    for (const method of ['POST', 'DELETE', 'GET']) {
      const res = await call(node, method, recording('bad%20room!'));
      expect(res.status, method).toBe(400);
      expect(res.body).toMatchObject({ error: 'bad-request' });
    }
    const unknownField = await call(node, 'POST', recording('some-room'), { body: { format: 'mp4' } });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.message).toMatch(/unknown field "format"/);
    const notOpen = await call(node, 'POST', recording('nobody-here'));
    expect(notOpen.status).toBe(404);
    expect(notOpen.body).toMatchObject({ error: 'not-found', message: expect.stringMatching(/not open/) });
    expect((await call(node, 'DELETE', recording('nobody-here'))).status).toBe(404);
    expect((await call(node, 'GET', recording('nobody-here'))).status).toBe(404);
  });

  describe('with a live stage of two broadcasters', () => {
    const room = 'http-stage';
    let stage: LiveBroadcaster[] = [];

    beforeAll(async () => {
      stage = [await goLive(probes, room, 'Ann', 11000), await goLive(probes, room, 'Ben', 12000)];
      await sleep(1000);
    });
    afterAll(async () => {
      await node.recordings.stop(room).catch(() => undefined);
      for (const b of stage) await b.leave();
    });

    it('two concurrent starts: exactly one 201, the other 409; list, get, stop (files closed), stop again 404', async () => {
      const [a, b] = await Promise.all([call(node, 'POST', recording(room)), call(node, 'POST', recording(room), { body: {} })]);
      expect([a.status, b.status].sort()).toEqual([201, 409]);
      const started = (a.status === 201 ? a : b).body as unknown as RecordingInfo;
      const refused = (a.status === 201 ? b : a).body;
      expect(refused).toMatchObject({ error: 'invalid-state', message: expect.stringMatching(/already being recorded/) });
      expect(started).toMatchObject({ room, state: 'recording', folder: expect.stringContaining(dir) });
      expect(started.segments.map((s) => s.name).sort()).toEqual(['Ann', 'Ben']);

      expect(await metric(node, 'fourcast_recordings')).toBe(1);
      expect(await metric(node, 'fourcast_recording_segments')).toBe(2);
      const listed = await call(node, 'GET', '/admin/recordings');
      expect((listed.body.recordings as RecordingInfo[]).map((r) => r.id)).toEqual([started.id]);
      expect((await call(node, 'GET', recording(room))).body).toMatchObject({ id: started.id, state: 'recording' });

      await sleep(3000);
      const stopped = await call(node, 'DELETE', recording(room));
      expect(stopped.status).toBe(200);
      const info = stopped.body as unknown as RecordingInfo;
      expect(info).toMatchObject({ id: started.id, state: 'stopped', stopReason: 'stopped' });
      for (const seg of info.segments) {
        expect(seg).toMatchObject({ state: 'ended', endReason: 'stopped', exit: { code: 0 }, error: null });
        const probed = ffprobe(path.join(info.folder, seg.file));
        expect(probed.streams.map((s) => s.codec_name).sort()).toEqual(['opus', 'vp8']);
        expect(probed.duration).toBeGreaterThan(2);
      }
      expect(await metric(node, 'fourcast_recordings')).toBe(0);
      expect(await metric(node, 'fourcast_recording_segments')).toBe(0);
      expect((await call(node, 'DELETE', recording(room))).status).toBe(404);
      // The finished recording stays listed, and is what GET shows for the room.
      expect((await call(node, 'GET', recording(room))).body).toMatchObject({ id: started.id, state: 'stopped' });
    }, 30_000);

    it('an encoder killed mid-recording is reported (GET, metric), replaced once, and the stage stays live', async () => {
      const failuresBefore = await metric(node, 'fourcast_recording_failures_total{reason="encoder-died"}');
      const started = (await call(node, 'POST', recording(room))).body as unknown as RecordingInfo;
      const ann = started.segments.find((s) => s.name === 'Ann')!;
      // Mid-recording: the encoder has written a good part of its file.
      const annFile = path.join(started.folder, ann.file);
      await waitFor(() => (fs.statSync(annFile, { throwIfNoEntry: false })?.size ?? 0) > 30_000, 15_000, 'Ann’s file to grow');
      process.kill(ann.pid!, 'SIGKILL');

      const get = async () => (await call(node, 'GET', recording(room))).body as unknown as RecordingInfo;
      await waitFor(async () => (await get()).segments.some((s) => s.replaces === ann.index && s.state === 'recording'), 15_000, 'a replacement segment');
      let info = await get();
      const failed = info.segments.find((s) => s.index === ann.index)!;
      expect(failed).toMatchObject({ state: 'failed', endReason: 'encoder-died', exit: { code: null, signal: 'SIGKILL' }, error: expect.stringMatching(/killed by SIGKILL/) });
      expect(await metric(node, 'fourcast_recording_failures_total{reason="encoder-died"}')).toBe(failuresBefore + 1);
      // What the encoder wrote before it died is kept and readable.
      expect(failed.bytes).toBeGreaterThan(10_000);
      expect(ffprobe(path.join(info.folder, failed.file)).streams.map((s) => s.codec_name).sort()).toEqual(['opus', 'vp8']);

      // The stage is live: a consumer placed like a viewer now receives Ann's audio and video.
      const sink = await createRtpSink();
      try {
        const [probe] = await probes.addProbes(room, { ip: '127.0.0.1', ports: [sink.port], srtp: false, placement: 'spread' });
        const annConsumers = probe!.consumers.filter((c) => c.producerId === stage[0]!.producers.audio || c.producerId === stage[0]!.producers.video);
        expect(annConsumers).toHaveLength(2);
        await waitFor(() => annConsumers.every((c) => (sink.rtp.get(c.ssrc) ?? 0) > 20), 10_000, 'Ann’s media to reach a viewer');

        // The replacement dies at once too: it is not replaced again (no restart loop), and the stage is still live.
        const replacement = info.segments.find((s) => s.replaces === ann.index)!;
        process.kill(replacement.pid!, 'SIGKILL');
        await waitFor(async () => (await get()).segments.find((s) => s.index === replacement.index)?.state === 'failed', 10_000, 'the replacement to fail');
        const counted = annConsumers.map((c) => sink.rtp.get(c.ssrc) ?? 0);
        await sleep(2500);
        info = await get();
        expect(info.segments.filter((s) => s.name === 'Ann').map((s) => s.state)).toEqual(['failed', 'failed']);
        expect(await metric(node, 'fourcast_recording_failures_total{reason="encoder-died"}')).toBe(failuresBefore + 2);
        annConsumers.forEach((c, i) => expect(sink.rtp.get(c.ssrc) ?? 0).toBeGreaterThan(counted[i]! + 20));
        // Ben's segment went on untouched.
        expect(info.segments.filter((s) => s.name === 'Ben').map((s) => s.state)).toEqual(['recording']);
      } finally {
        sink.close();
        probes.closeProbes(room);
      }
      const stopped = (await call(node, 'DELETE', recording(room))).body as unknown as RecordingInfo;
      expect(stopped.segments.find((s) => s.name === 'Ben')).toMatchObject({ state: 'ended', exit: { code: 0 } });
    }, 60_000);
  });

  it('without ffmpeg the node runs, and a start answers 503 naming the binary and RECORDING_FFMPEG', async () => {
    const missing = path.join(dir, 'no-such-ffmpeg');
    const other = await startTestNode({ ADMIN_TOKEN: ADMIN, RECORDING_DIR: dir, RECORDING_FFMPEG: missing });
    const viewer = await TestClient.connect(`${other.urls.ws}?room=no-ffmpeg`);
    try {
      await viewer.request('join', { name: 'Vic' });
      const res = await call(other, 'POST', recording('no-ffmpeg'));
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ error: 'unavailable' });
      expect(res.body.message).toContain(missing);
      expect(res.body.message).toContain('RECORDING_FFMPEG');
      // Nothing is left reserved or listed.
      expect((await call(other, 'GET', '/admin/recordings')).body).toEqual({ recordings: [] });
      expect((await call(other, 'POST', recording('no-ffmpeg'))).status).toBe(503);
    } finally {
      viewer.close();
      await other.close();
    }
  });

  it('documents the routes in a valid OpenAPI 3.0 document, behind the admin token', async () => {
    await expectAdminRoutesDocumented(node.urls.http, [
      ['/admin/rooms/{room}/recording', 'post'],
      ['/admin/rooms/{room}/recording', 'delete'],
      ['/admin/rooms/{room}/recording', 'get'],
      ['/admin/recordings', 'get'],
    ]);
  });
});
