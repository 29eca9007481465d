import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestWriter, type RecordingInfo } from '../../src/recording/manifest.js';

const info = (n: number): RecordingInfo => ({
  id: `rec-${n}`,
  room: 'r',
  state: 'recording',
  folder: '/x',
  startedAt: new Date(0).toISOString(),
  startedAtMs: 0,
  stoppedAt: null,
  stoppedAtMs: null,
  stopReason: null,
  segments: [],
  manifestError: null,
});

describe('ManifestWriter', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-manifest-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('writes the newest state of a burst of changes, atomically, with its version', async () => {
    const file = path.join(tmp(), 'manifest.json');
    const writer = new ManifestWriter(file, () => undefined);
    const writes = Array.from({ length: 50 }, (_, i) => writer.write(info(i)));
    await Promise.all(writes);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ version: 1, ...info(49) });
    // Renamed into place: no temporary file is left behind.
    expect(fs.readdirSync(path.dirname(file))).toEqual(['manifest.json']);
    expect(writer.error).toBeNull();
  });

  it('reports a failed write once, keeps the error until a write succeeds', async () => {
    const dir = tmp();
    const file = path.join(dir, 'gone', 'manifest.json');
    const errors: string[] = [];
    const writer = new ManifestWriter(file, (m) => errors.push(m));
    await writer.write(info(1));
    await writer.write(info(2));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/cannot write .*manifest\.json: ENOENT/);
    expect(writer.error).toBe(errors[0]);
    fs.mkdirSync(path.join(dir, 'gone'));
    await writer.write(info(3));
    expect(writer.error).toBeNull();
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).id).toBe('rec-3');
  });
});
