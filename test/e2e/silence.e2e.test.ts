import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Fourcast } from '../../src/server.js';
import { launchChromium } from '../helpers/browser.js';
import { goLive, openPage, stageStats } from '../helpers/pages.js';
import { startTestNode } from '../helpers/server.js';

// Broadcasters publish Opus with DTX (client/src/lib/stage.ts): a silent microphone sends a
// few packets a second instead of 50, which is most of a stage's audio packets. Chromium's
// fake microphone plays a file here: 2 s of tone, then 4 s of silence, looped.
describe('a silent broadcaster sends almost no audio packets (Opus DTX)', () => {
  let node: Fourcast;
  let browser: Browser;
  let dir: string;
  const log: string[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-dtx-'));
    const wav = path.join(dir, 'tone-then-silence.wav');
    const made = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=2', '-f', 'lavfi', '-i', 'aevalsrc=0:sample_rate=48000:duration=4', '-filter_complex', '[0:a][1:a]concat=n=2:v=0:a=1', '-ac', '1', '-c:a', 'pcm_s16le', wav], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    node = await startTestNode();
    browser = await launchChromium([`--use-file-for-fake-audio-capture=${wav}`]);
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 20).join('\n'));
    await browser?.close();
    await node?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the microphone producer and a viewer get ~50 packets/s during the tone and a few during the silence', async () => {
    const room = 'quiet';
    const token = await node.tokens.mint({ role: 'publisher', room, name: 'Caster', ttlSeconds: 600 });
    const pub = await openPage(browser, `${node.urls.http}/broadcast.html?room=${room}&token=${token}&quality=low`, 'pub', log);
    const casterId = await goLive(pub);
    const viewer = await openPage(browser, `${node.urls.http}/watch.html?room=${room}&name=Ear`, 'viewer', log);
    const mic = () => [...node.rooms.get(room)!.stage.peers[0]!.producers.values()].find((p) => p.source === 'mic')?.producer;
    const sent = async () => {
      const p = mic();
      return p ? (await p.getStats()).reduce((n, s) => n + s.packetCount, 0) : 0;
    };
    const heard = async () => (await stageStats(viewer))[casterId]?.audioPackets ?? 0;

    // Packets per second in half-second steps over two loops of the file (12 s), at both ends.
    const rates: { producer: number; viewer: number }[] = [];
    let last = { producer: await sent(), viewer: await heard(), at: performance.now() };
    while (rates.length < 24) {
      await new Promise((r) => setTimeout(r, 500));
      const now = { producer: await sent(), viewer: await heard(), at: performance.now() };
      const s = (now.at - last.at) / 1000;
      rates.push({ producer: (now.producer - last.producer) / s, viewer: (now.viewer - last.viewer) / s });
      last = now;
    }
    const detail = rates.map((r) => `${Math.round(r.producer)}/${Math.round(r.viewer)}`).join(' ');
    console.log(`DTX: packets/s per 0.5 s step (producer/viewer): ${detail}`);
    for (const side of ['producer', 'viewer'] as const) {
      const xs = rates.map((r) => r[side]);
      // The tone: full rate (one packet per 20 ms frame); the silence: DTX, a frame every 400 ms or so.
      expect(Math.max(...xs), `${side} rates (producer/viewer per 0.5 s step): ${detail}`).toBeGreaterThanOrEqual(40);
      expect(Math.min(...xs), `${side} rates: ${detail}`).toBeLessThanOrEqual(8);
      // Two thirds of the file is silence: on average well under the 50/s a microphone without DTX sends.
      expect(xs.reduce((a, b) => a + b, 0) / xs.length, `${side} rates: ${detail}`).toBeLessThan(35);
    }
  });
});
