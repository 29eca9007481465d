import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePortRange } from './helpers/ports.js';

const root = new URL('..', import.meta.url).pathname;
const tsxLoader = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;

/**
 * Starts the real entry point (src/main.ts) in an empty working directory, waits for its
 * start banner, stops it (SIGTERM, no drain grace) and returns everything it wrote.
 */
async function startAndStop(env: Record<string, string>): Promise<{ code: number | null; stdout: string; output: string }> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-links-'));
  const child = spawn(process.execPath, ['--import', tsxLoader, path.join(root, 'src/main.ts')], {
    cwd,
    env: {
      ...process.env,
      LOG_FORMAT: 'json',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      WS_HOST: '127.0.0.1',
      WS_PORT: '0',
      MEDIASOUP_WORKERS: '1',
      RTC_LISTEN_IP: '127.0.0.1',
      RTC_PORT_BASE: String(await freePortRange(1)),
      DRAIN_GRACE_SECONDS: '0',
      TOKEN_SECRET: 'links-test-secret-links-test-secret-012',
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (/Fourcast is live\.[\s\S]*\n\n/.test(stdout)) child.kill('SIGTERM');
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  fs.rmSync(cwd, { recursive: true, force: true });
  return { code, stdout, output: stdout + stderr };
}

const jwt = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;

describe('the broadcaster link printed at start (src/main.ts)', { timeout: 90_000 }, () => {
  it('production prints no token, only how to mint a link', async () => {
    const { stdout, output } = await startAndStop({ NODE_ENV: 'production' });
    expect(output, output).toContain('Fourcast is live');
    expect(stdout).toContain('Broadcaster link: not printed');
    expect(stdout).toContain('npm run token -- --role publisher --room main-stage');
    expect(stdout).toContain('/watch.html?room=main-stage');
    expect(output).not.toMatch(jwt);
    expect(output).not.toContain('token=');
  });

  it('development prints the link; PRINT_LINKS=false does not', async () => {
    const dev = await startAndStop({ NODE_ENV: 'development' });
    expect(dev.stdout, dev.output).toMatch(new RegExp(`broadcast\\.html\\?room=main-stage&token=${jwt.source}`));
    const off = await startAndStop({ NODE_ENV: 'development', PRINT_LINKS: 'false' });
    expect(off.output, off.output).toContain('Fourcast is live');
    expect(off.output).not.toMatch(jwt);
  });

  it('PRINT_LINKS=true prints it in production when asked for', async () => {
    const { stdout, output } = await startAndStop({ NODE_ENV: 'production', PRINT_LINKS: 'true' });
    expect(stdout, output).toMatch(new RegExp(`broadcast\\.html\\?room=main-stage&token=${jwt.source}`));
  });
});
