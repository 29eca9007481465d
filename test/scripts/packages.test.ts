import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// scripts/lib/packages.sh reads the machine's apt sources to reuse its Debian URI (a local
// mirror or proxy) for the bookworm-backports and deb-src entries it adds. These tests run
// its shell functions against fixture apt folders (FOURCAST_APT_DIR), with every awk the
// machine has (Debian's default is mawk; gawk may be the alternative).

const root = new URL('../..', import.meta.url).pathname;
const lib = path.join(root, 'scripts/lib/packages.sh');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-apt-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const awks = ['/usr/bin/mawk', '/usr/bin/gawk', '/usr/bin/original-awk'].filter((a) => fs.existsSync(a));
/** A bin folder whose `awk` is the given implementation, first on PATH. */
const awkBin = (awk: string) => {
  const dir = path.join(tmp, `bin-${path.basename(awk)}`);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir);
    fs.symlinkSync(awk, path.join(dir, 'awk'));
  }
  return dir;
};

let n = 0;
/** A fixture apt folder: `sources.list` and files under `sources.list.d/`. */
function aptDir(files: Record<string, string>): string {
  const dir = path.join(tmp, `apt-${++n}`);
  fs.mkdirSync(path.join(dir, 'sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Stands in for apt-get: nothing here may touch the machine's package state. */
const stubs = path.join(tmp, 'stubs');
fs.mkdirSync(stubs);
fs.writeFileSync(path.join(stubs, 'apt-get'), '#!/bin/sh\necho "apt-get stub: $*" >&2\nexit 97\n', { mode: 0o755 });

function sh(script: string, apt: string, awk?: string) {
  const run = spawnSync('bash', ['-c', `set -euo pipefail; . "${lib}"; ${script}`], {
    env: { ...process.env, FOURCAST_APT_DIR: apt, PATH: [stubs, ...(awk ? [awkBin(awk)] : []), process.env.PATH ?? ''].join(':') },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { status: run.status, stdout: run.stdout.replace(/\n+$/, ''), stderr: run.stderr.trim() };
}

const MIRROR = 'http://mirror.internal.test/debian';
const KEY = '/usr/share/keyrings/debian-archive-keyring.gpg';

describe.each(awks)('scripts/lib/packages.sh with %s', (awk) => {
  it('takes the URI of a deb822 bookworm entry (not the security or disabled ones)', () => {
    const apt = aptDir({
      'sources.list.d/00-off.sources': `Types: deb\nURIs: http://disabled.test/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n`,
      'sources.list.d/debian.sources': [
        'Types: deb',
        '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
        `URIs: ${MIRROR} http://second.test/debian`,
        'Suites: bookworm bookworm-updates',
        'Components: main contrib',
        `Signed-By: ${KEY}`,
        '',
        'Types: deb',
        'URIs: http://security.test/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        '',
      ].join('\n'),
      'sources.list.d/other.sources.disabled-by-farm': `Types: deb\nURIs: http://ignored.test/debian\nSuites: bookworm\nComponents: main\n`,
    });
    expect(sh('debian_archive_uri', apt, awk)).toEqual({ status: 0, stdout: MIRROR, stderr: '' });
    expect(sh('_apt_entry deb bookworm', apt, awk).stdout).toBe(`${MIRROR}\t${KEY}`);
    expect(sh('_apt_entry deb bookworm-backports', apt, awk).status).toBe(1);
    expect(sh('_apt_entry deb-src bookworm', apt, awk).status).toBe(1);
  });

  it('matches the suite exactly: bookworm-updates alone is not bookworm', () => {
    const apt = aptDir({ 'sources.list.d/u.sources': `Types: deb\nURIs: http://updates-only.test/debian\nSuites: bookworm-updates\nComponents: main\n` });
    const r = sh('debian_archive_uri', apt, awk);
    expect(r.stdout).toBe('http://deb.debian.org/debian');
    expect(r.stderr).toMatch(/no enabled "deb \.\.\. bookworm main" entry .*using http:\/\/deb\.debian\.org\/debian/);
  });

  it('reads one-line sources.list entries, options and comments included', () => {
    const apt = aptDir({
      'sources.list': [
        '# deb http://commented.test/debian bookworm main',
        'deb cdrom:[Debian GNU/Linux 12]/ bookworm main',
        'deb-src http://src.test/debian bookworm main',
        'deb http://security.test/debian-security bookworm-security main',
        `deb [ arch=amd64 signed-by=/etc/apt/keyrings/mirror.gpg ] ${MIRROR} bookworm main non-free-firmware # local mirror`,
        '',
      ].join('\n'),
    });
    expect(sh('_apt_entry deb bookworm', apt, awk).stdout).toBe(`${MIRROR}\t/etc/apt/keyrings/mirror.gpg`);
    expect(sh('_apt_entry deb-src bookworm', apt, awk).stdout).toBe('http://src.test/debian\t');
  });

  it('reads *.list files under sources.list.d, after the deb822 files', () => {
    const apt = aptDir({ 'sources.list.d/mirror.list': `deb http://list.test/debian bookworm main\n` });
    expect(sh('debian_archive_uri', apt, awk).stdout).toBe('http://list.test/debian');
  });

  it('falls back to deb.debian.org, and says so, when there is no apt folder at all', () => {
    const r = sh('debian_archive_uri', path.join(tmp, 'missing'), awk);
    expect(r).toMatchObject({ status: 0, stdout: 'http://deb.debian.org/debian' });
    expect(r.stderr).toContain('using http://deb.debian.org/debian');
  });

  it('writes the backports and deb-src entries with the machine’s URI and keyring', () => {
    const apt = aptDir({ 'sources.list': `deb [signed-by=/etc/apt/keyrings/mirror.gpg] ${MIRROR} bookworm main\n` });
    const r = sh('_enable_backports; _write_debian_entry "$FOURCAST_APT_DIR/sources.list.d/fourcast-bookworm-src.sources" deb-src bookworm', apt, awk);
    expect(r.status, r.stderr).toBe(0);
    const read = (f: string) => fs.readFileSync(path.join(apt, 'sources.list.d', f), 'utf8');
    expect(read('fourcast-bookworm-backports.sources')).toBe(
      `Types: deb\nURIs: ${MIRROR}\nSuites: bookworm-backports\nComponents: main\nSigned-By: /etc/apt/keyrings/mirror.gpg\n`,
    );
    expect(read('fourcast-bookworm-src.sources')).toBe(`Types: deb-src\nURIs: ${MIRROR}\nSuites: bookworm\nComponents: main\nSigned-By: /etc/apt/keyrings/mirror.gpg\n`);
    // Now present: neither is added again, and the parser finds what it wrote.
    expect(sh('_apt_entry deb bookworm-backports', apt, awk).stdout).toBe(`${MIRROR}\t/etc/apt/keyrings/mirror.gpg`);
    expect(sh('ensure_deb_src', apt, awk)).toMatchObject({ status: 0, stdout: '' });
  });

  it('uses Debian’s keyring when the entry names none, and the fallback URI when there is no entry', () => {
    const plain = aptDir({ 'sources.list': `deb ${MIRROR} bookworm main\n` });
    expect(sh('_enable_backports', plain, awk).status).toBe(0);
    expect(fs.readFileSync(path.join(plain, 'sources.list.d/fourcast-bookworm-backports.sources'), 'utf8')).toContain(`URIs: ${MIRROR}\nSuites: bookworm-backports\nComponents: main\nSigned-By: ${KEY}\n`);
    const empty = aptDir({});
    const r = sh('_enable_backports', empty, awk);
    expect(r.stderr).toContain('using http://deb.debian.org/debian');
    expect(fs.readFileSync(path.join(empty, 'sources.list.d/fourcast-bookworm-backports.sources'), 'utf8')).toContain('URIs: http://deb.debian.org/debian\n');
  });
});

describe('scripts/lib/packages.sh on this machine', () => {
  it('finds a Debian URI in /etc/apt (or says it fell back)', () => {
    const r = sh('debian_archive_uri', '/etc/apt');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^[a-z+]+:\S+$/);
    if (r.stdout === 'http://deb.debian.org/debian' && r.stderr) expect(r.stderr).toContain('using http://deb.debian.org/debian');
  });
});
