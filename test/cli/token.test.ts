import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/tokens.js';

const root = new URL('../..', import.meta.url).pathname;
const SECRET = 'cli-test-secret-cli-test-secret-0123456';
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;

/** Runs the CLI from its source (`npm run token` runs the same code built into dist/) with only the given Fourcast variables. */
function runCli(args: string[], env: Record<string, string> = {}) {
  const base = { ...process.env };
  for (const k of ['TOKEN_SECRET', 'PUBLIC_URL', 'HTTP_PORT', 'DEFAULT_ROOM', 'FOURCAST_CONFIG_FILE', 'FOURCAST_ENV_FILE']) delete base[k];
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/token.ts', ...args], {
    cwd: root,
    env: { ...base, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

// Each run starts Node with tsx (about a second on a busy machine).
describe('token CLI (src/cli/token.ts)', { timeout: 60_000 }, () => {
  it('runs from the build as `npm run token`, as in a deployed image (no tsx needed)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.token).toBe('node dist/server/cli/token.js');
    const run = spawnSync(process.execPath, ['dist/server/cli/token.js', '--role', 'viewer', '--room', 'lobby', '--json'], {
      cwd: root,
      env: { PATH: process.env.PATH, TOKEN_SECRET: SECRET },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ role: 'viewer', room: 'lobby', token: expect.stringMatching(JWT) });
  });

  it('mints a token the server’s TokenService accepts, and prints its links', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { status, stdout, stderr } = runCli(['--role', 'publisher', '--room', 'main-stage', '--name', 'Alice', '--ttl', '3600'], { TOKEN_SECRET: SECRET });
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const token = JWT.exec(stdout)?.[0];
    expect(token).toBeDefined();
    const grant = await new TokenService(SECRET).verify(token!);
    expect(grant).toMatchObject({ role: 'publisher', room: 'main-stage', name: 'Alice' });
    expect(grant.exp - before).toBeGreaterThanOrEqual(3599);
    expect(grant.exp - before).toBeLessThanOrEqual(3601);
    expect(stdout).toContain(`http://localhost:3000/broadcast.html?room=main-stage&token=${token}`);
    expect(stdout).toContain('http://localhost:3000/watch.html?room=main-stage');
    // A token from another secret is rejected: the CLI really signs with TOKEN_SECRET.
    await expect(new TokenService(`${SECRET}-other`).verify(token!)).rejects.toThrow();
  });

  it('uses PUBLIC_URL for links and prints JSON with --json', async () => {
    const { status, stdout } = runCli(['--role', 'viewer', '--room', 'side_room', '--name', 'Val', '--json'], { TOKEN_SECRET: SECRET, PUBLIC_URL: 'https://live.example.test/' });
    expect(status).toBe(0);
    const out = JSON.parse(stdout) as { token: string; expiresAt: string; links: { broadcast?: string; watch: string } };
    const grant = await new TokenService(SECRET).verify(out.token);
    expect(grant).toMatchObject({ role: 'viewer', room: 'side_room', name: 'Val' });
    expect(out.expiresAt).toBe(new Date(grant.exp * 1000).toISOString());
    expect(out.links).toEqual({ watch: `https://live.example.test/watch.html?room=side_room&token=${out.token}` });
  });

  it('reads TOKEN_SECRET, HTTP_PORT and DEFAULT_ROOM from FOURCAST_CONFIG_FILE', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-token-'));
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ TOKEN_SECRET: SECRET, HTTP_PORT: 8443, DEFAULT_ROOM: 'lobby' }));
    try {
      const { status, stdout } = runCli(['--role', 'admin', '--name', 'Ops', '--json'], { FOURCAST_CONFIG_FILE: file });
      expect(status).toBe(0);
      const out = JSON.parse(stdout) as { token: string; links: { broadcast?: string; watch: string } };
      expect(await new TokenService(SECRET).verify(out.token)).toMatchObject({ role: 'admin', room: 'lobby', name: 'Ops' });
      expect(out.links.broadcast).toBe(`http://localhost:8443/broadcast.html?room=lobby&token=${out.token}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses with exit 2 naming TOKEN_SECRET when it is not set', () => {
    const { status, stdout, stderr } = runCli(['--role', 'viewer', '--room', 'main-stage', '--name', 'Val']);
    expect(status).toBe(2);
    expect(stderr).toMatch(/TOKEN_SECRET is not set/);
    expect(stdout).not.toMatch(JWT);
  });

  it('refuses bad input with exit 2 and a message', () => {
    const cases: [string[], RegExp][] = [
      [['--role', 'owner'], /role must be one of publisher, viewer, admin/],
      [['--role', 'viewer', '--room', '*'], /admin tokens only/],
      [['--room', 'no spaces'], /room must be/],
      [['--ttl', '30'], /--ttl must be a whole number of seconds from 60 to 604800/],
      [['--ttl', '1h'], /--ttl must be a whole number/],
      [['--colour', 'red'], /Unknown option '--colour'/],
    ];
    for (const [args, message] of cases) {
      const { status, stdout, stderr } = runCli(args, { TOKEN_SECRET: SECRET });
      expect(status, args.join(' ')).toBe(2);
      expect(stderr).toMatch(message);
      expect(stdout).not.toMatch(JWT);
    }
  });

  it('exits 78 naming the variable when the configuration is invalid', () => {
    const { status, stderr } = runCli(['--role', 'viewer'], { TOKEN_SECRET: 'too-short' });
    expect(status).toBe(78);
    expect(stderr).toMatch(/TOKEN_SECRET: expected at least 32 characters/);
  });

  it('reads TOKEN_SECRET from the server’s env file (FOURCAST_ENV_FILE), the environment winning', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-token-env-'));
    const file = path.join(dir, 'fourcast.env');
    fs.writeFileSync(file, `TOKEN_SECRET=${SECRET}\nDEFAULT_ROOM=from-file\n`);
    try {
      const fromFile = runCli(['--role', 'viewer', '--json'], { FOURCAST_ENV_FILE: file });
      expect(fromFile.status, fromFile.stderr).toBe(0);
      const minted = JSON.parse(fromFile.stdout) as { token: string; room: string };
      expect(minted.room).toBe('from-file');
      expect((await new TokenService(SECRET).verify(minted.token)).role).toBe('viewer');
      const envWins = runCli(['--role', 'viewer', '--json'], { FOURCAST_ENV_FILE: file, DEFAULT_ROOM: 'from-env' });
      expect((JSON.parse(envWins.stdout) as { room: string }).room).toBe('from-env');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints usage with --help', () => {
    const { status, stdout } = runCli(['--help']);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Usage: npm run token -- \[options\]/);
    expect(stdout).toMatch(/--role .*--room .*--name .*--ttl/s);
    expect(stdout).toMatch(/TOKEN_SECRET \(required\)/);
  });
});
