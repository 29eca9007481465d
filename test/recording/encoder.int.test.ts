import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Encoder, encoderLauncher } from '../../src/recording/encoder.js';
import { portsBoundBy } from '../../src/recording/udpPorts.js';
import { silentLog } from '../helpers/pool.js';
import { waitFor } from '../helpers/rtp.js';

const root = path.resolve(new URL('../..', import.meta.url).pathname);
const opus = { kind: 'audio' as const, codec: { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 } };
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

describe('Encoder (a real ffmpeg)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-encoder-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('listens on 127.0.0.1 only, and an RTCP BYE ends it cleanly (exit 0) though no packet ever came', async () => {
    const encoder = await Encoder.start({ ffmpeg: 'ffmpeg', tracks: [opus, { ...opus, codec: { ...opus.codec, payloadType: 101 } }], output: path.join(dir, 'bye.webm'), format: 'webm', log: silentLog });
    expect(encoder.ports).toHaveLength(2);
    expect(await portsBoundBy(encoder.pid, [...encoder.ports, ...encoder.ports.map((p) => p + 1)])).toBe(true);
    // Nothing on the wildcard address: /proc/net/udp shows each port once, on 127.0.0.1.
    const table = fs.readFileSync('/proc/net/udp', 'utf8');
    for (const port of encoder.ports) expect(table).not.toContain(`00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`);
    const t0 = Date.now();
    const exit = await encoder.stop();
    expect(exit).toMatchObject({ code: 0, signal: null, requested: true, forced: false });
    // The BYE, not the SIGINT fallback (2 s later), ended it.
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await encoder.stop()).toBe(exit);
  });

  it('a start aborted while ffmpeg comes up kills it and rejects', async () => {
    const abort = new AbortController();
    const starting = Encoder.start({ ffmpeg: 'ffmpeg', tracks: [opus], output: path.join(dir, 'aborted.webm'), format: 'webm', log: silentLog, signal: abort.signal });
    abort.abort();
    await expect(starting).rejects.toMatchObject({ name: 'EncoderStartError', message: 'aborted' });
  });

  it('an encoder that cannot start is a start error that says why', async () => {
    const missing = path.join(dir, 'no-ffmpeg-here');
    await expect(Encoder.start({ ffmpeg: missing, tracks: [opus], output: path.join(dir, 'x.webm'), format: 'webm', log: silentLog })).rejects.toMatchObject({
      name: 'EncoderStartError',
      message: expect.stringMatching(/could not be run before it listened: .*ENOENT/),
    });
  });

  it('dies with the process that started it (setpriv --pdeathsig): a killed server leaves no ffmpeg behind', async () => {
    const launcher = await encoderLauncher();
    expect(launcher, 'util-linux setpriv is part of Debian’s essential packages').toEqual(['setpriv', '--pdeathsig', 'KILL', '--']);
    const script = path.join(dir, 'parent.mjs');
    fs.writeFileSync(
      script,
      `const { Encoder, encoderLauncher } = await import(${JSON.stringify(pathToFileURL(path.join(root, 'src/recording/encoder.ts')).href)});
const log = { debug() {} };
const e = await Encoder.start({ ffmpeg: 'ffmpeg', launcher: await encoderLauncher(), tracks: [${JSON.stringify(opus)}], output: ${JSON.stringify(path.join(dir, 'orphan.webm'))}, format: 'webm', log });
console.log(e.pid);
setInterval(() => {}, 1000);
`,
    );
    const parent = spawn(process.execPath, ['--import', pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href, script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      parent.once('exit', (code) => reject(new Error(`parent exited with ${code}`)));
    });
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await waitFor(() => !alive(pid), 3000, `ffmpeg ${pid} to end with its parent`);
  });
});
