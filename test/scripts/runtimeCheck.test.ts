import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRuntime, compareVersions, UWS_BINARIES, type RuntimeCheck } from '../../scripts/lib/runtime-check.mjs';
import { UWS_PACKAGES } from '../../src/signaling/uws.js';

// scripts/lib/runtime-check.mjs: the Node.js/glibc decision scripts/setup.sh makes before it
// installs anything. The function with given versions, the CLI with the test overrides,
// the real machine, and setup.sh itself in a sandbox with apt-get/dpkg-query/npm stubbed.

const root = new URL('../..', import.meta.url).pathname;
const script = path.join(root, 'scripts/lib/runtime-check.mjs');
const today = new Date('2026-11-29T12:00:00Z');
const TRUFFLE = '@trufflesuite/uws-js-unofficial';
const BTC = '@btc-vision/uwebsockets.js';

const check = (node: string, glibc: string | null, more: { platform?: string; arch?: string; today?: Date } = {}): RuntimeCheck =>
  checkRuntime({ node, glibc, today, ...more });

describe('checkRuntime (the decision)', () => {
  it('refuses Node 18, saying which Node.js lines work', () => {
    const r = check('18.20.4', '2.36');
    expect(r.ok).toBe(false);
    expect(r.level).toBe('refused');
    expect(r.uws).toBeNull();
    expect(r.reasons.join('\n')).toMatch(/Node\.js 18\.20\.4 is too old: Fourcast needs Node\.js 20 \(>= 20\.19\.0\), 22 \(>= 22\.12\.0\), 24 or 25/);
    // On this glibc only Node 20 has a binary: the advice says so, and how to get 22/24.
    expect(r.advice.join('\n')).toMatch(/glibc 2\.36\) use Node\.js 20 \(>= 20\.19\.0, past end of life\); for Node\.js 22, 24 or 25 move to glibc >= 2\.38/);
  });

  it('accepts Node 20 + glibc 2.36 with the trufflesuite binary, says why btc-vision is skipped, warns about end of life', () => {
    const r = check('20.20.2', '2.36');
    expect(r.ok).toBe(true);
    expect(r.uws).toEqual({ package: TRUFFLE, alias: 'uWebSockets.js', version: '20.30.0-unofficial.0' });
    expect(r.fallbacks).toEqual([]);
    expect(r.reasons).toEqual([`${BTC} 20.57.0 has Node.js 20 but needs glibc >= 2.38; this machine has 2.36.`]);
    expect(r.level).toBe('warn');
    expect(r.warnings.join('\n')).toMatch(/Node\.js 20 is past its end of life \(2026-04-30\).*Node\.js 24, which needs glibc >= 2\.38/);
    // Before its end of life the same combination is plainly fine.
    expect(check('20.20.2', '2.36', { today: new Date('2026-01-15') })).toMatchObject({ ok: true, level: 'ok', warnings: [] });
  });

  it('refuses Node 22 + glibc 2.36, with the two ways out', () => {
    const r = check('22.12.0', '2.36');
    expect(r.ok).toBe(false);
    expect(r.reasons).toEqual([
      `${BTC} 20.57.0 has Node.js 22 but needs glibc >= 2.38; this machine has 2.36.`,
      `${TRUFFLE} 20.30.0-unofficial.0 has no binary for Node.js 22 (only 20).`,
    ]);
    expect(r.advice).toEqual([
      'on this machine (glibc 2.36) use Node.js 20 (>= 20.19.0, past end of life); for Node.js 22, 24 or 25 move to glibc >= 2.38 (Debian 13 trixie, Ubuntu 24.04).',
    ]);
    expect(r.works).toEqual([
      `Node.js 20 (>= 20.19.0), 22 (>= 22.12.0), 24 or 25 with glibc >= 2.38 (Debian 13 trixie, Ubuntu 24.04): ${BTC} 20.57.0`,
      `Node.js 20 (>= 20.19.0) with glibc >= 2.27 (Ubuntu 18.04, Debian 10): ${TRUFFLE} 20.30.0-unofficial.0`,
    ]);
  });

  it('accepts Node 22 + glibc 2.39 with the btc-vision binary', () => {
    const r = check('22.12.0', '2.39');
    expect(r).toMatchObject({ ok: true, level: 'ok', uws: { package: BTC, alias: 'uWebSockets.js-btc-vision', version: '20.57.0' }, fallbacks: [], warnings: [] });
  });

  it('accepts Node 24 + glibc 2.38 (the exact minimum) with the btc-vision binary', () => {
    expect(check('24.0.0', '2.38')).toMatchObject({ ok: true, level: 'ok', uws: { package: BTC } });
    expect(check('v24.11.1', '2.37')).toMatchObject({ ok: false, uws: null });
  });

  it('refuses Node 26 (no package ships its ABI) and says what to use instead', () => {
    const r = check('26.0.0', '2.41');
    expect(r.ok).toBe(false);
    expect(r.reasons[0]).toBe('Node.js 26 is newer than every uWebSockets.js binary Fourcast pins (Node.js 20, 22, 24 or 25).');
    expect(r.advice).toEqual([
      'on this machine (glibc 2.41) use Node.js 20 (>= 20.19.0, past end of life), 22 (>= 22.12.0), 24 or 25 (past end of life).',
      'Or update the uWebSockets.js packages in package.json once one ships a binary for Node.js 26.',
    ]);
  });

  it('prefers btc-vision on Node 20 + glibc >= 2.38, with trufflesuite as the fallback', () => {
    const r = check('20.19.0', '2.41');
    expect(r.uws?.package).toBe(BTC);
    expect(r.fallbacks.map((f) => f.package)).toEqual([TRUFFLE]);
    expect(r.warnings.join('\n')).toMatch(/Node\.js 24, which works on this machine/);
  });

  it('refuses what the build or the binaries cannot take', () => {
    expect(check('20.18.1', '2.36').reasons.join('\n')).toMatch(/too old for the build \(vite 8\): use 20\.19\.0 or a later 20\.x/);
    expect(check('22.11.0', '2.39')).toMatchObject({ ok: false });
    expect(check('21.7.3', '2.39').reasons.join('\n')).toMatch(/no binary for Node\.js 21/);
    expect(check('23.11.0', '2.39').ok).toBe(false);
    expect(check('20.20.2', '2.26').advice.join('\n')).toMatch(/move to a Linux with a newer glibc/);
    const musl = check('22.12.0', null);
    expect(musl).toMatchObject({ ok: false });
    expect(musl.reasons.join('\n')).toMatch(/no glibc found \(musl/);
    expect(check('20.20.2', '2.36', { arch: 'ppc64' }).reasons.join('\n')).toMatch(/no uWebSockets\.js package .* linux-ppc64/);
  });

  it('needs no glibc on macOS and Windows', () => {
    expect(check('22.12.0', null, { platform: 'darwin', arch: 'arm64' })).toMatchObject({ ok: true, uws: { package: BTC } });
    expect(check('24.1.0', '2.17', { platform: 'win32', arch: 'x64' })).toMatchObject({ ok: true, glibc: null, uws: { package: BTC } });
  });
});

describe('runtime-check tables against what is installed', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; engines: { node: string } };
  // Node.js line -> NODE_MODULE_VERSION, the number in uws_<platform>_<arch>_<ABI>.node.
  const ABI: Record<number, number> = { 20: 115, 22: 127, 24: 137, 25: 141 };

  it('matches UWS_PACKAGES in src/signaling/uws.ts, in the same order', () => {
    expect(UWS_BINARIES.map((b) => [b.alias, b.package, b.version, b.nodeMajors, b.platforms['linux-x64']])).toEqual(
      UWS_PACKAGES.map((p) => [p.alias, p.name, p.version, [...p.nodeMajors], p.glibc]),
    );
  });

  it.each(UWS_BINARIES.map((b) => [b.alias, b] as const))('%s: pinned exactly in package.json, installed, shipping every listed ABI', (_alias, b) => {
    expect(pkg.dependencies[b.alias]).toBe(`npm:${b.package}@${b.version}`);
    const dir = path.join(root, 'node_modules', b.alias);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))).toMatchObject({ name: b.package, version: b.version });
    const files = fs.readdirSync(dir, { recursive: true }).map(String);
    for (const major of b.nodeMajors) {
      for (const key of Object.keys(b.platforms)) {
        expect(files.some((f) => path.basename(f) === `uws_${key.replace('-', '_')}_${ABI[major]}.node`), `${b.package}: ${key} Node ${major}`).toBe(true);
      }
    }
  });

  const objdump = ['/usr/bin/objdump', '/bin/objdump'].find((f) => fs.existsSync(f));
  it.runIf(objdump).each(UWS_BINARIES.map((b) => [b.alias, b] as const))('%s: its Linux binaries need exactly the glibc listed', (_alias, b) => {
    const dir = path.join(root, 'node_modules', b.alias);
    const files = fs.readdirSync(dir, { recursive: true }).map(String);
    for (const key of ['linux-x64', 'linux-arm64']) {
      for (const major of b.nodeMajors) {
        const file = files.find((f) => path.basename(f) === `uws_${key.replace('-', '_')}_${ABI[major]}.node` && !f.startsWith('dist'))!;
        const symbols = execFileSync(objdump!, ['-T', path.join(dir, file)], { encoding: 'utf8', maxBuffer: 64 << 20 });
        const versions = [...new Set([...symbols.matchAll(/GLIBC_(\d+\.\d+)/g)].map((m) => m[1]!))];
        const newest = versions.sort(compareVersions).at(-1);
        expect(newest, `${file}`).toBe(b.platforms[key]);
      }
    }
  });

  it('engines in package.json says the same Node.js lines', () => {
    expect(pkg.engines.node).toBe('^20.19.0 || ^22.12.0 || ^24.0.0 || ^25.0.0');
  });
});

describe('node scripts/lib/runtime-check.mjs', () => {
  const run = (env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [script, '--prefix', '[setup]'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 10_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('exits 1 on stderr for Node 22 + glibc 2.36, listing what works', () => {
    const r = run({ FOURCAST_TEST_NODE_VERSION: '22.12.0', FOURCAST_TEST_GLIBC_VERSION: '2.36' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe('[setup] Node.js 22.12.0 on linux-x64, glibc 2.36 (FOURCAST_TEST_GLIBC_VERSION)');
    expect(lines[1]).toMatch(/^\[setup\] REFUSED: /);
    expect(r.stderr).toContain('[setup] What works:');
    expect(r.stderr).toMatch(/\[setup\] Fix: on this machine \(glibc 2\.36\) use Node\.js 20/);
  });

  it('exits 0 for Node 20 + glibc 2.36 and names the package it will load', () => {
    const r = run({ FOURCAST_TEST_NODE_VERSION: '20.20.2', FOURCAST_TEST_GLIBC_VERSION: '2.36' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\[setup\] Node\.js 20\.20\.2 on linux-x64, glibc 2\.36/);
    expect(r.stdout).toContain(`[setup] uWebSockets.js: ${TRUFFLE} 20.30.0-unofficial.0 has a native binary for this combination`);
    expect(r.stdout).toContain(`[setup]   skipped: ${BTC} 20.57.0 has Node.js 20 but needs glibc >= 2.38; this machine has 2.36.`);
  });

  it.runIf(process.platform === 'linux')('reads this machine: its Node.js, ABI and glibc (getconf GNU_LIBC_VERSION)', () => {
    const glibc = execFileSync('getconf', ['GNU_LIBC_VERSION'], { encoding: 'utf8' }).trim().split(' ')[1];
    const env = { ...process.env };
    delete env.FOURCAST_TEST_NODE_VERSION;
    delete env.FOURCAST_TEST_GLIBC_VERSION;
    const r = spawnSync(process.execPath, [script], { env, encoding: 'utf8', timeout: 10_000 });
    const out = r.stdout + r.stderr;
    expect(out.split('\n')[0]).toBe(
      `Node.js ${process.versions.node} (ABI ${process.versions.modules}) on linux-${process.arch}, glibc ${glibc} (getconf GNU_LIBC_VERSION)`,
    );
    expect(r.status).toBe(checkRuntime({ node: process.versions.node, glibc: glibc!, arch: process.arch }).ok ? 0 : 1);
  });
});

describe('scripts/setup.sh checks Node.js/glibc first', () => {
  // A copy of the scripts with no node_modules, and stubs that log every call: if the
  // check let a run through, the next steps hit the stubs and stop there (npm exits 97).
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-setup-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const sandbox = path.join(tmp, 'clone');
  fs.cpSync(path.join(root, 'scripts'), path.join(sandbox, 'scripts'), { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(root, f), path.join(sandbox, f));
  const stubs = path.join(tmp, 'stubs');
  const calls = path.join(tmp, 'calls.log');
  fs.mkdirSync(stubs);
  for (const [name, body] of Object.entries({ 'apt-get': 'exit 97', npm: 'exit 97', 'dpkg-query': "printf 'install ok installed'" })) {
    fs.writeFileSync(path.join(stubs, name), `#!/bin/sh\necho "${name} $*" >> "${calls}"\n${body}\n`, { mode: 0o755 });
  }
  const setup = (node: string, glibc: string) => {
    fs.rmSync(calls, { force: true });
    const started = Date.now();
    const r = spawnSync('bash', [path.join(sandbox, 'scripts/setup.sh')], {
      env: { ...process.env, PATH: `${stubs}:${process.env.PATH}`, FOURCAST_TEST_NODE_VERSION: node, FOURCAST_TEST_GLIBC_VERSION: glibc },
      encoding: 'utf8',
      timeout: 20_000,
    });
    const log = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : '';
    return { status: r.status, output: r.stdout + r.stderr, calls: log, ms: Date.now() - started };
  };

  it('stops Node 22 + glibc 2.36 in the first step, before apt or npm', () => {
    const r = setup('22.12.0', '2.36');
    expect(r.status).toBe(1);
    expect(r.output.split('\n')[0]).toBe('[setup] == Node.js and glibc (uWebSockets.js binaries)');
    expect(r.output).toContain('[setup] Node.js 22.12.0 on linux-x64, glibc 2.36');
    expect(r.output).toContain('[setup] FAILED at step: Node.js and glibc (uWebSockets.js binaries) (exit 1)');
    expect(r.output).not.toContain('[setup] == Debian packages');
    expect(r.calls).toBe('');
    expect(r.ms).toBeLessThan(5_000);
  });

  it('stops Node 18 the same way', () => {
    const r = setup('18.20.4', '2.36');
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/Node\.js 18\.20\.4 is too old/);
    expect(r.calls).toBe('');
  });

  it('lets Node 20 + glibc 2.36 through to the next steps', () => {
    const r = setup('20.20.2', '2.36');
    expect(r.output).toContain(`[setup] uWebSockets.js: ${TRUFFLE} 20.30.0-unofficial.0 has a native binary`);
    expect(r.output).toContain('[setup] == Debian packages (runtime)');
    // It went on to packages and npm (stubbed: npm exits 97 and ends the run).
    expect(r.calls).toMatch(/^dpkg-query /m);
    expect(r.calls).toMatch(/^npm ci /m);
    expect(r.status).toBe(97);
  });
});
