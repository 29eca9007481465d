import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePortRange } from './helpers/ports.js';
import { variableDocs } from '../src/config/docs.js';

const root = new URL('..', import.meta.url).pathname;
// Absolute, so the entry point can run in a working directory of its own (where ./.env is read).
const tsxLoader = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;

/**
 * Runs the real entry point (src/main.ts) in a fresh, empty working directory (so no
 * developer's ./.env is read) and returns how it ended. `files` are written there first.
 */
function runMain(env: Record<string, string>, args: string[] = [], files: Record<string, string> = {}) {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-main-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(cwd, name), text);
  try {
    const run = spawnSync(process.execPath, ['--import', tsxLoader, path.join(root, 'src/main.ts'), ...args], {
      cwd,
      env: { ...process.env, LOG_FORMAT: 'json', HTTP_PORT: '0', WS_PORT: '0', ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { status: run.status, stdout: run.stdout, output: run.stdout + run.stderr, cwd };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

// Each test spawns Node with tsx: seconds on a loaded 2-core machine, well past vitest's default 5 s.
describe('command line and env file (src/main.ts)', { timeout: 60_000 }, () => {
  it.each([['--help'], ['-h']])('%s prints usage, exit codes and every variable, and starts nothing', (flag) => {
    const { status, stdout, output } = runMain({}, [flag]);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage:/m);
    expect(stdout).toContain('--env-file=PATH');
    for (const code of ['64', '69', '78']) expect(stdout).toMatch(new RegExp(`^  ${code} `, 'm'));
    for (const v of variableDocs()) expect(stdout, v.name).toContain(`  ${[v.name, ...v.aliases].join(' | ')}=${v.default ?? ''}\n`);
    expect(stdout).toContain('MEDIASOUP_WORKER_BIN');
    expect(output).not.toMatch(/Fourcast is (up|live)|uWebSockets\.js:/);
  });

  it('refuses an unknown argument with exit 64 and the usage', () => {
    const { status, output } = runMain({}, ['--port=3000']);
    expect(status).toBe(64);
    expect(output).toContain("Unknown option '--port'");
    expect(output).toMatch(/^Usage:/m);
  });

  it('names ./.env and shows the bad value it holds, never a secret', () => {
    const secret = 'too-short-but-secret';
    const { status, output, cwd } = runMain({}, [], { '.env': `CHAT_HISTORY=-3\nTOKEN_SECRET=${secret}\n` });
    expect(status).toBe(78);
    expect(output).toContain(`CHAT_HISTORY: expected at least 1 (got "-3" from the env file ${path.join(cwd, '.env')})`);
    expect(output).toContain(`TOKEN_SECRET: expected at least 32 characters (got a hidden value of ${secret.length} characters from the env file ${path.join(cwd, '.env')})`);
    expect(output).not.toContain(secret);
  });

  it('lets the environment win over the env file', () => {
    // HTTP_PORT=0 comes from the environment (runMain), so the file's bad HTTP_PORT is never read.
    const { status, output } = runMain({ CHAT_BURST: 'lots' }, ['--env-file=prod.env'], { 'prod.env': 'HTTP_PORT=70000\n' });
    expect(status).toBe(78);
    expect(output).toContain('CHAT_BURST: expected a whole number (got "lots" from the environment)');
    expect(output).not.toContain('HTTP_PORT');
  });

  it('refuses a named env file that does not exist, naming it', () => {
    // Node.js checks a script argument named --env-file itself and stops first (exit 9,
    // "node: missing.env: not found"; nodejs/node#54232); Fourcast's own check is 78.
    const a = runMain({}, ['--env-file=missing.env']);
    expect([9, 78]).toContain(a.status);
    expect(a.output).toMatch(a.status === 9 ? /node: missing\.env: not found/ : /--env-file: cannot read the env file .*missing\.env \(no such file\)/);
    const b = runMain({ FOURCAST_ENV_FILE: '/nonexistent/fourcast.env' });
    expect(b.status).toBe(78);
    expect(b.output).toContain('FOURCAST_ENV_FILE: cannot read the env file /nonexistent/fourcast.env (no such file)');
  });

  it('puts the env file in the environment before mediasoup loads (MEDIASOUP_WORKER_BIN)', () => {
    const { status, output } = runMain({}, [], { '.env': 'MEDIASOUP_WORKER_BIN=/nonexistent/from-env-file/mediasoup-worker\n' });
    expect(status).toBe(69);
    expect(output).toMatch(/mediasoup-worker binary not found .*\/nonexistent\/from-env-file\/mediasoup-worker/);
  });
});

describe('startup guards (src/main.ts)', { timeout: 60_000 }, () => {
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

describe('the built artefact (dist/server/main.js)', { timeout: 60_000 }, () => {
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
