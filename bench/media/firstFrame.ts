// Join → first decoded frame with real Chromium viewers, and the server's CPU
// with four broadcasters and an audience. A benchmark, not a test: it writes
// bench-results/first-frame.{json,md}.
//
//   npm run bench:first-frame   (JOINS=20 AUDIENCE=6 WORKERS=2 SAMPLE_S=20)
import fs from 'node:fs';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { loadConfig } from '../../src/config/index.js';
import { startFourcast } from '../../src/server.js';
import { launchChromium } from '../../test/helpers/browser.js';
import { freePortRange } from '../../test/helpers/ports.js';
import { cpuShare, machine, percentile } from './procStat.js';

const JOINS = Number(process.env.JOINS ?? 20);
const AUDIENCE = Number(process.env.AUDIENCE ?? 6);
const WORKERS = Number(process.env.WORKERS ?? 2);
const SAMPLE_S = Number(process.env.SAMPLE_S ?? 20);
const ROOM = 'bench-stage';

async function main(): Promise<void> {
  const config = loadConfig({
    HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', WS_HOST: '127.0.0.1', WS_PORT: '0',
    RTC_LISTEN_IP: '127.0.0.1', RTC_PORT_BASE: String(await freePortRange(WORKERS)), MEDIASOUP_WORKERS: String(WORKERS),
    STUN_URLS: 'stun:127.0.0.1:9', TOKEN_SECRET: 'bench-secret-bench-secret-bench-secret-00',
  });
  const node = await startFourcast(config, pino({ level: 'warn' }));
  const base = node.urls.http.replace('localhost', '127.0.0.1');
  const browser = await launchChromium();
  const pages: Page[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const token = await node.tokens.mint({ role: 'publisher', room: ROOM, name: `Caster ${i + 1}`, ttlSeconds: 3600 });
      const p = await (await browser.newContext()).newPage();
      await p.goto(`${base}/broadcast.html?room=${ROOM}&token=${token}&quality=low`);
      await p.waitForFunction(() => (globalThis as any).fourcast?.stage?.info, null, { timeout: 30_000 });
      await p.click('#go-live');
      await p.waitForFunction(() => (globalThis as any).fourcast.state.live === true, null, { timeout: 30_000 });
      pages.push(p);
    }
    await new Promise((r) => setTimeout(r, 3000)); // let simulcast ramp up

    const samples: number[] = [];
    const marks: Record<string, number>[] = [];
    for (let i = 0; i < JOINS; i++) {
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      await p.goto(`${base}/watch.html?room=${ROOM}&name=Bench${i}`);
      const ms = await p.waitForFunction(() => (globalThis as any).fourcast?.firstFrameMs ?? null, null, { timeout: 30_000, polling: 50 });
      samples.push(Number(await ms.jsonValue()));
      marks.push(await p.evaluate(() => (globalThis as any).fourcast.marks));
      // Each measured viewer leaves again: on two cores every extra rendering page
      // would slow the next join (the browsers share the CPU with the SFU).
      await ctx.close();
    }
    // Then an audience stays for the CPU sample.
    for (let i = 0; i < AUDIENCE; i++) {
      const p = await (await browser.newContext()).newPage();
      await p.goto(`${base}/watch.html?room=${ROOM}&name=Audience${i}`);
      await p.waitForFunction(() => (globalThis as any).fourcast?.firstFrameMs ?? null, null, { timeout: 30_000, polling: 100 });
      pages.push(p);
    }
    const sorted = [...samples].sort((a, b) => a - b);

    const pids = [process.pid, ...node.pool.workers.map((w) => w.pid)];
    const shares = await cpuShare(pids, SAMPLE_S * 1000);
    const result = {
      machine: machine(),
      setup: { publishers: 4, audience: AUDIENCE, workers: WORKERS, capture: '320x240@15 fake camera, VP8 simulcast ×3 + Opus' },
      joinToFirstFrameMs: { joins: JOINS, p50: percentile(sorted, 50), p95: percentile(sorted, 95), min: sorted[0], max: sorted.at(-1), samples },
      // Median ms from page script start to each step: where the time goes.
      breakdownMedianMs: Object.fromEntries(
        ['booted', 'wsOpen', 'joined', 'firstVideoTrack'].map((k) => [k, percentile(marks.map((m) => m[k] ?? NaN).filter(Number.isFinite).sort((a, b) => a - b), 50)]),
      ),
      serverCpu: {
        windowSeconds: SAMPLE_S,
        nodeProcessShareOfCore: shares[0],
        workersShareOfCore: shares.slice(1),
        totalShareOfCore: shares.reduce((a, b) => a + b, 0),
        note: 'Chromium (publishers + viewers) runs on the same cores and is not included.',
      },
    };
    fs.mkdirSync('bench-results', { recursive: true });
    fs.writeFileSync('bench-results/first-frame.json', JSON.stringify(result, null, 2));
    const md = [
      `| metric | value |`, `| --- | --- |`,
      `| join → first frame p50 | ${result.joinToFirstFrameMs.p50} ms |`,
      `| join → first frame p95 | ${result.joinToFirstFrameMs.p95} ms |`,
      `| median step times (ms from page start) | ${Object.entries(result.breakdownMedianMs).map(([k, v]) => `${k} ${v}`).join(', ')}, first frame ${result.joinToFirstFrameMs.p50} |`,
      `| joins measured | ${JOINS}, one at a time (loopback, ${WORKERS} workers, 4 broadcasters live) |`,
      `| CPU sample | ${SAMPLE_S} s with 4 broadcasters and ${AUDIENCE} viewers |`,
      `| server CPU, Node process | ${(shares[0]! * 100).toFixed(1)} % of a core |`,
      `| server CPU, mediasoup workers | ${shares.slice(1).map((s) => `${(s * 100).toFixed(1)} %`).join(' + ')} |`,
      `| machine | ${result.machine.cores} cores, ${result.machine.cpu} |`,
    ].join('\n');
    fs.writeFileSync('bench-results/first-frame.md', md + '\n');
    console.log(md);
  } finally {
    await browser.close();
    await node.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
