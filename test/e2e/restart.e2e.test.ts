import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { TokenService } from '../../src/auth/tokens.js';
import { launchChromium } from '../helpers/browser.js';
import { decodingAll, openPage, peerIdOf, poll } from '../helpers/pages.js';
import { freePortRange } from '../helpers/ports.js';

// The real server process (the built dist/, as `npm start` runs it) restarted
// under open pages: by SIGTERM (drain: `draining`, then `closing` shutdown) and
// by SIGKILL (sockets just drop). Same ports and token secret, so the pages'
// links stay valid. Every page must come back by itself within 10 s, with
// tiles equal to the live broadcasters, a truthful LIVE state and chat that
// keeps its old lines (marked) and shows every new one.
const root = new URL('../..', import.meta.url).pathname;
const SECRET = 'restart-test-secret-restart-test-secret-01';
const ROOM = 'restart-e2e';

class ServerProcess {
  child: ChildProcess | undefined;
  output = '';
  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    // After a SIGKILL the old worker may hold its media port for a moment: retry the start.
    for (let attempt = 0; ; attempt++) {
      const child = spawn(process.execPath, ['dist/server/main.js'], { cwd: root, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const up = (async () => {
        for (;;) {
          if (child.exitCode !== null) return false;
          const ok = await fetch(`http://127.0.0.1:${this.env.HTTP_PORT}/ready`).then((r) => r.ok, () => false);
          if (ok) return true;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const result = await Promise.race([up, exited.then(() => false)]);
      if (result) return;
      if (attempt >= 20) throw new Error(`server did not start:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
}

describe('pages recover from a server restart (SIGTERM and SIGKILL)', () => {
  let server: ServerProcess;
  let browser: Browser;
  let http: string;
  const log: string[] = [];
  const casters: Page[] = [];
  const viewers: Page[] = [];
  const all = () => [...casters, ...viewers];

  const chatTexts = (p: Page) => p.locator('.chat .msg .text').allTextContents();
  const send = async (p: Page, text: string) => {
    await p.fill('#chat-input', text);
    await p.press('#chat-input', 'Enter');
  };
  const tilePeers = (p: Page) => p.locator('#stage .tile').evaluateAll((els) => els.map((e) => ((e as any).dataset.peer as string | undefined) ?? '').sort());
  const joined = (p: Page) => p.evaluate(() => Boolean((globalThis as any).fourcast?.stage?.online));

  beforeAll(async () => {
    const ports = new Set<number>();
    while (ports.size < 3) ports.add(await freePortRange(1));
    const [httpPort, wsPort, rtcPort] = [...ports] as [number, number, number];
    http = `http://127.0.0.1:${httpPort}`;
    server = new ServerProcess({
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      WS_HOST: '127.0.0.1',
      WS_PORT: String(wsPort),
      RTC_LISTEN_IP: '127.0.0.1',
      RTC_PORT_BASE: String(rtcPort),
      MEDIASOUP_WORKERS: '1',
      DRAIN_GRACE_SECONDS: '1',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'warn',
      TOKEN_SECRET: SECRET,
      STUN_URLS: 'stun:127.0.0.1:9',
      ADMIN_TOKEN: '',
    });
    await server.start();
    browser = await launchChromium();
    const tokens = new TokenService(SECRET);
    for (const name of ['Ada', 'Grace']) {
      const token = await tokens.mint({ role: 'publisher', room: ROOM, name, ttlSeconds: 3600 });
      const page = await openPage(browser, `${http}/broadcast.html?room=${ROOM}&token=${token}&quality=low`, name, log);
      await page.waitForFunction(() => (globalThis as any).fourcast?.state?.joined, null, { timeout: 20_000 });
      await page.click('#go-live');
      await page.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: 20_000 });
      casters.push(page);
    }
    for (let i = 0; i < 2; i++) viewers.push(await openPage(browser, `${http}/watch.html?room=${ROOM}&name=Viewer${i}`, `v${i}`, log));
    for (const v of viewers) await v.waitForFunction(() => (globalThis as any).fourcast?.stage?.online, null, { timeout: 20_000 });
  });
  afterAll(async () => {
    if (log.length) console.log(log.slice(0, 40).join('\n'));
    await browser?.close();
    await server?.stop('SIGKILL');
  });

  /** Every page joined, tiles = the live broadcasters (no ghosts), video decoding, LIVE true on the broadcaster pages. */
  async function everythingBack(startedAt: number): Promise<void> {
    for (const p of all()) await poll(() => joined(p), (ok) => ok, Math.max(1000, startedAt + 10_000 - Date.now()), 'page re-joined within 10 s of the server being back');
    const casterIds = (await Promise.all(casters.map(peerIdOf))) as string[];
    for (const [i, c] of casters.entries()) {
      await c.waitForFunction(() => (globalThis as any).fourcast?.state?.live === true, null, { timeout: 20_000 });
      const others = casterIds.filter((_, j) => j !== i).sort();
      await poll(() => tilePeers(c), (t) => JSON.stringify(t) === JSON.stringify(others), 10_000, 'broadcaster page tiles = the other broadcasters');
    }
    for (const v of viewers) {
      await poll(() => tilePeers(v), (t) => JSON.stringify(t) === JSON.stringify([...casterIds].sort()), 10_000, 'viewer tiles = the live broadcasters');
      await poll(() => decodingAll(v, casterIds), (r) => r.ok, 20_000, 'viewer decoding every broadcaster again');
    }
  }

  /** Samples the broadcaster pages' LIVE state while the server is down: it must never say live. */
  function watchLiveWhileDown(): { stop(): Promise<boolean[]> } {
    let running = true;
    const seen: boolean[] = [];
    const loop = (async () => {
      while (running) {
        for (const c of casters) seen.push(await c.evaluate(() => (globalThis as any).fourcast.state.live as boolean).catch(() => false));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        return seen;
      },
    };
  }

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`comes back by itself after ${signal}: no ghost tiles, LIVE truthful, chat kept and marked`, async () => {
      const tag = signal.toLowerCase();
      await send(viewers[0]!, `before ${tag} 1`);
      await send(casters[0]!, `before ${tag} 2`);
      for (const p of all()) await poll(() => chatTexts(p), (t) => t.includes(`before ${tag} 2`), 10_000, 'chat before restart');
      const before = await Promise.all(all().map(chatTexts));
      const dividersBefore = await Promise.all(all().map((p) => p.locator('.chat .divider').count()));

      await server.stop(signal);
      // Down: the broadcaster pages stop claiming LIVE once they notice (socket closed).
      for (const c of casters) await c.waitForFunction(() => (globalThis as any).fourcast.state.live === false, null, { timeout: 5_000 });
      const sampler = watchLiveWhileDown();
      await new Promise((r) => setTimeout(r, 1500));
      expect((await sampler.stop()).every((live) => !live)).toBe(true);
      for (const c of casters) expect(await c.locator('#live-state').getAttribute('data-state')).toBe('reconnecting');

      await server.start();
      const backAt = Date.now();
      await everythingBack(backAt);

      // Chat: the old lines stay, a divider marks the restart, and new lines show everywhere.
      for (const [i, p] of all().entries()) {
        expect(await chatTexts(p)).toEqual(before[i]);
        expect(await p.locator('.chat .divider').count()).toBe(dividersBefore[i]! + 1);
        expect(await p.locator('.chat .divider').last().textContent()).toMatch(/server restarted/i);
      }
      for (let n = 1; n <= 3; n++) await send(viewers[1]!, `after ${tag} ${n}`);
      await send(casters[1]!, `after ${tag} host`);
      for (const [i, p] of all().entries()) {
        await poll(() => chatTexts(p), (t) => t.includes(`after ${tag} host`), 10_000, 'new chat after restart');
        expect(await chatTexts(p)).toEqual([...before[i]!, `after ${tag} 1`, `after ${tag} 2`, `after ${tag} 3`, `after ${tag} host`]);
      }
      // No stale error toast or "offline" pill left behind.
      for (const p of all()) expect(await p.locator('#status').textContent()).toBe('Connected');
    });
  }
});
