import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

/** Runs the real entry point (src/main.ts) and returns how it ended. */
function runMain(env: Record<string, string>) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, LOG_FORMAT: 'json', HTTP_PORT: '0', WS_PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: run.status, output: run.stdout + run.stderr };
}

describe('startup guards (src/main.ts)', () => {
  it('exits 78 naming the variable when the configuration is invalid', () => {
    const { status, output } = runMain({ MEDIASOUP_WORKERS: 'many' });
    expect(status).toBe(78);
    expect(output).toMatch(/MEDIASOUP_WORKERS: /);
  });

  it('exits 69 with the fix when the mediasoup worker binary is missing', () => {
    const { status, output } = runMain({ MEDIASOUP_WORKER_BIN: '/nonexistent/mediasoup-worker' });
    expect(status).toBe(69);
    expect(output).toMatch(/mediasoup-worker binary not found .*scripts\/setup\.sh/);
  });

  it('exits 69 when the worker binary exists but cannot run', () => {
    const { status, output } = runMain({ MEDIASOUP_WORKER_BIN: '/bin/false' });
    expect(status).toBe(69);
    expect(output).toMatch(/mediasoup worker 0 did not start/);
  });

  it('refuses to run on the uWebSockets.js JS fallback', () => {
    // UWS_USE_FALLBACK makes the package load its pure-JS implementation, exactly
    // what happens when the native addon does not match the Node build.
    const { status, output } = runMain({ UWS_USE_FALLBACK: '1' });
    expect(status).toBe(69);
    expect(output).toMatch(/uWebSockets\.js native binary is not in use/);
  });
});
