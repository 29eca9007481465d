import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePortRange } from './helpers/ports.js';

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

describe('the built artefact (dist/server/main.js)', () => {
  // A copy of dist/server in a bare folder: what a deploy that forgot the client build looks like.
  function bareDeploy(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-deploy-'));
    fs.cpSync(path.join(root, 'dist/server'), path.join(dir, 'dist/server'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'fourcast', type: 'module' }));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    return dir;
  }
  const start = async (dir: string) => {
    const rtcPort = String(await freePortRange(1));
    const run = spawnSync(process.execPath, ['dist/server/main.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_FORMAT: 'json', HTTP_PORT: '0', WS_PORT: '0', MEDIASOUP_WORKERS: '1', RTC_LISTEN_IP: '127.0.0.1', RTC_PORT_BASE: rtcPort },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: run.status, output: run.stdout + run.stderr };
  };

  it('exits 69 naming the command when the web client is not built', async () => {
    const dir = bareDeploy();
    try {
      const { status, output } = await start(dir);
      expect(status).toBe(69);
      expect(output).toMatch(/web client is not built.*npm run build/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 69 when dist/ is older than the sources next to it', async () => {
    const dir = bareDeploy();
    try {
      fs.cpSync(path.join(root, 'dist/client'), path.join(dir, 'dist/client'), { recursive: true });
      fs.cpSync(path.join(root, 'client'), path.join(dir, 'client'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'dist/build-info.json'), JSON.stringify({ version: 1, builtAt: 'yesterday', client: 'old', server: 'old' }));
      const { status, output } = await start(dir);
      expect(status).toBe(69);
      expect(output).toMatch(/older than the sources of client\/.*npm run build/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
