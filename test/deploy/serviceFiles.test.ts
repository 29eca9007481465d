import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The service-manager files an operator copies: checked by the tools that read them.
const root = path.resolve(import.meta.dirname, '../..');
const unitFile = path.join(root, 'config/systemd/fourcast.service');

/** systemd-analyze verify: exit 0 is not enough (it only warns on bad values), so any output fails. */
function verifyUnit(file: string) {
  const run = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

describe('config/systemd/fourcast.service', () => {
  it('passes systemd-analyze verify without a warning', () => {
    expect(verifyUnit(unitFile)).toEqual({ status: 0, output: '' });
  });

  it('the check catches a bad value (it is not a check that cannot fail)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-unit-'));
    const broken = path.join(dir, 'fourcast.service');
    fs.writeFileSync(broken, fs.readFileSync(unitFile, 'utf8').replace('KillMode=mixed', 'KillMode=gently'));
    expect(verifyUnit(broken).output).toMatch(/kill mode/i);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stops by draining: SIGTERM to Node only, a timeout longer than the drain, files and limits set', () => {
    const unit = fs.readFileSync(unitFile, 'utf8');
    const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];
    expect(value('KillMode')).toBe('mixed');
    expect(value('KillSignal')).toBe('SIGTERM');
    // DRAIN_GRACE_SECONDS defaults to 10, and main.ts allows 10 s more for the close.
    expect(Number(value('TimeoutStopSec'))).toBeGreaterThan(20);
    expect(value('EnvironmentFile')).toBe('/etc/fourcast/fourcast.env');
    expect(Number(value('LimitNOFILE'))).toBeGreaterThanOrEqual(65536);
    expect(value('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(value('RestartPreventExitStatus')?.split(' ').sort()).toEqual(['69', '78']);
  });
});

describe('config/compose.yaml', () => {
  it('passes docker-compose config (validation needs no engine)', () => {
    // The file sits in config/ and reads ../.env: lay it out the same way in a scratch folder.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-compose-'));
    fs.mkdirSync(path.join(dir, 'config'));
    fs.copyFileSync(path.join(root, 'config/compose.yaml'), path.join(dir, 'config/compose.yaml'));
    fs.writeFileSync(path.join(dir, '.env'), 'TOKEN_SECRET=compose-test-secret-compose-test-secret\n');
    const run = spawnSync('docker-compose', ['-f', 'compose.yaml', 'config'], { cwd: path.join(dir, 'config'), encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/network_mode: host/);
    expect(run.stdout).toMatch(/stop_grace_period: 30s/);
    expect(run.stdout).toMatch(/TOKEN_SECRET: compose-test-secret/);
    expect(run.stdout).toMatch(/MEDIASOUP_WORKERS: '2'/);
  });
});

describe('config/compose.cluster.yaml', () => {
  it('passes docker-compose config: Redis, two nodes on their own ports sharing it, coturn, Prometheus', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-compose-'));
    fs.mkdirSync(path.join(dir, 'config'));
    for (const f of ['compose.cluster.yaml', 'prometheus.cluster.yml', 'coturn.example.conf']) fs.copyFileSync(path.join(root, 'config', f), path.join(dir, 'config', f));
    fs.writeFileSync(path.join(dir, '.env'), 'TOKEN_SECRET=compose-test-secret-compose-test-secret\n');
    const run = spawnSync('docker-compose', ['-f', 'compose.cluster.yaml', 'config'], { cwd: path.join(dir, 'config'), encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(run.status, run.stderr).toBe(0);
    for (const service of ['redis', 'node-a', 'node-b', 'coturn', 'prometheus']) expect(run.stdout).toMatch(new RegExp(`^  ${service}:$`, 'm'));
    expect(run.stdout.match(/REDIS_URL: redis:\/\/127\.0\.0\.1:6380\/0/g)).toHaveLength(2);
    expect(run.stdout).toMatch(/- --port\n\s+- '6380'\n/);
    expect(run.stdout).toMatch(/HTTP_PORT: '3100'/);
    expect(run.stdout).toMatch(/TOKEN_SECRET: compose-test-secret/);
  });

  it('its Prometheus file scrapes both nodes and passes promtool', () => {
    const text = fs.readFileSync(path.join(root, 'config/prometheus.cluster.yml'), 'utf8');
    expect(text).toContain('127.0.0.1:3000');
    expect(text).toContain('127.0.0.1:3100');
    const check = spawnSync('promtool', ['check', 'config', path.join(root, 'config/prometheus.cluster.yml')], { encoding: 'utf8' });
    expect(check.status, check.stderr + check.stdout).toBe(0);
  });
});
