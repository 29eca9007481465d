import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { freePortRange } from './helpers/ports.js';
import { TestClient } from './helpers/wsClient.js';

const root = new URL('..', import.meta.url).pathname;
const SECRET = 'drain-test-secret-drain-test-secret-0123';

/** Three distinct free ports (each checked free for TCP and UDP). */
async function threePorts(): Promise<[number, number, number]> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePortRange(1));
  return [...ports] as [number, number, number];
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('SIGTERM drains the real server (src/main.ts)', () => {
  let child: ChildProcess | undefined;
  const clients: TestClient[] = [];
  afterAll(() => {
    for (const c of clients) c.close();
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('refuses new joins, tells clients, reports not ready, and exits 0 after the grace period', async () => {
    const [httpPort, wsPort, rtcPort] = await threePorts();
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: {
        ...process.env,
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
        WS_HOST: '127.0.0.1',
        WS_PORT: String(wsPort),
        RTC_LISTEN_IP: '127.0.0.1',
        RTC_PORT_BASE: String(rtcPort),
        MEDIASOUP_WORKERS: '1',
        DRAIN_GRACE_SECONDS: '1',
        LOG_FORMAT: 'json',
        TOKEN_SECRET: SECRET,
        STUN_URLS: 'stun:127.0.0.1:9',
        ADMIN_TOKEN: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child!.once('exit', (code, signal) => resolve({ code, signal })));

    const http = `http://127.0.0.1:${httpPort}`;
    const ws = `ws://127.0.0.1:${wsPort}/ws`;
    await until('/health', async () => ((await fetch(`${http}/health`)).ok ? true : undefined)).catch((err: Error) => {
      throw new Error(`${err.message}; server output:\n${output}`);
    });
    expect((await fetch(`${http}/ready`)).status).toBe(200);

    const viewer = await TestClient.connect(`${ws}?room=drain-room`);
    clients.push(viewer);
    await viewer.request('join', { name: 'Vera' });
    // Connected before the signal, joins after it.
    const late = await TestClient.connect(`${ws}?room=drain-room`);
    clients.push(late);

    expect(child.kill('SIGTERM')).toBe(true);
    const sentAt = Date.now();

    // Connected clients are told, with a hint when to come back.
    const note = await viewer.waitFor('draining', () => true, 5_000);
    expect(note.retryAfterMs).toBe(1000);

    // During the grace period: new upgrades refused with 503, /ready 503 naming the reason, /health still alive.
    const refused = await TestClient.connect(`${ws}?room=drain-room`).then(
      (c) => {
        clients.push(c);
        return { status: 101, body: {} };
      },
      (e: { status?: number; body?: unknown }) => ({ status: e.status, body: e.body }),
    );
    expect(refused).toEqual({ status: 503, body: { error: 'draining', message: expect.any(String) } });
    await expect(late.request('join', { name: 'Late' })).rejects.toMatchObject({ code: 'draining' });
    const ready = await fetch(`${http}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not-ready', reasons: ['draining'] });
    expect((await fetch(`${http}/health`)).status).toBe(200);
    expect(Date.now() - sentAt).toBeLessThan(1000);

    // After the grace period: the client's socket is closed and the process exits cleanly.
    const closed = await viewer.closed;
    expect(closed.code).toBe(4000);
    const end = await exited;
    expect(end, output).toEqual({ code: 0, signal: null });
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1000);
    const lines = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        // No ADMIN_TOKEN in this run: the startup log says the admin routes are off.
        'admin routes disabled: ADMIN_TOKEN is not set',
        'draining before shutdown',
        'draining: refusing new joins, telling clients',
      ]),
    );
  });
});
