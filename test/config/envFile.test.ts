import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyEnvFile, chooseEnvFile, parseCommandLine, prepareStartup, readEnvFile } from '../../src/config/envFile.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-env-'));

describe('the command line', () => {
  it.each([
    [[], { kind: 'start', envFile: undefined }],
    [['--help'], { kind: 'help' }],
    [['-h'], { kind: 'help' }],
    [['--env-file=/etc/fourcast.env'], { kind: 'start', envFile: '/etc/fourcast.env' }],
    [['--env-file', 'prod.env'], { kind: 'start', envFile: 'prod.env' }],
  ])('%j', (argv, expected) => {
    expect(parseCommandLine(argv)).toEqual(expected);
  });

  it.each([[['--port=3000']], [['start']], [['--env-file']], [['--env-file=']], [['--help', '--verbose']]])('refuses %j', (argv) => {
    const c = parseCommandLine(argv);
    expect(c.kind).toBe('usage-error');
    if (c.kind === 'usage-error') expect(c.message).not.toBe('');
  });

  it('names the unknown option', () => {
    expect(parseCommandLine(['--prot=1'])).toEqual({ kind: 'usage-error', message: "Unknown option '--prot'" });
  });
});

describe('the env file', () => {
  it('is --env-file, else FOURCAST_ENV_FILE, else ./.env when it exists', () => {
    const dir = tmp();
    expect(chooseEnvFile(undefined, {}, dir)).toBeUndefined();
    fs.writeFileSync(path.join(dir, '.env'), '');
    expect(chooseEnvFile(undefined, {}, dir)).toEqual({ file: path.join(dir, '.env'), via: './.env' });
    expect(chooseEnvFile(undefined, { FOURCAST_ENV_FILE: 'a.env' }, dir)).toEqual({ file: path.join(dir, 'a.env'), via: 'FOURCAST_ENV_FILE' });
    expect(chooseEnvFile('/x/b.env', { FOURCAST_ENV_FILE: 'a.env' }, dir)).toEqual({ file: '/x/b.env', via: '--env-file' });
  });

  it("is parsed by Node's own parser: comments, quotes, export, multi-line values", () => {
    const dir = tmp();
    const file = path.join(dir, 'x.env');
    fs.writeFileSync(file, '# comment\nHTTP_PORT=8080\nexport PUBLIC_URL="https://live.example.com"\nDEFAULT_ROOM=stage # trailing\nMULTI="a\nb"\nQUOTED=\'$HOME\'\n');
    expect(readEnvFile({ file, via: '--env-file' })).toEqual({
      HTTP_PORT: '8080',
      PUBLIC_URL: 'https://live.example.com',
      DEFAULT_ROOM: 'stage',
      MULTI: 'a\nb',
      QUOTED: '$HOME',
    });
  });

  it('a named file that is missing is an error naming it', () => {
    const file = path.join(tmp(), 'missing.env');
    for (const via of ['--env-file', 'FOURCAST_ENV_FILE'] as const) {
      const err = (() => {
        try {
          readEnvFile({ file, via });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain(`${via}: cannot read the env file ${file} (no such file)`);
    }
  });

  it('stays under the environment: a non-empty variable wins, an empty one counts as unset', () => {
    const env: NodeJS.ProcessEnv = { HTTP_PORT: '9000', WS_PORT: '' };
    const r = applyEnvFile({ HTTP_PORT: '8080', WS_PORT: '8081', MEDIASOUP_WORKER_BIN: '/opt/w' }, env);
    expect(env).toEqual({ HTTP_PORT: '9000', WS_PORT: '8081', MEDIASOUP_WORKER_BIN: '/opt/w' });
    expect(r).toEqual({ applied: ['WS_PORT', 'MEDIASOUP_WORKER_BIN'], overridden: ['HTTP_PORT'] });
  });

  it('feeds configuration errors the file name', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, '.env'), 'HTTP_PORT=70000\nADMIN_TOKEN=short\n');
    const env: NodeJS.ProcessEnv = {};
    const s = prepareStartup([], env, dir);
    expect(s.error).toBeUndefined();
    expect(s.envFile?.applied.sort()).toEqual(['ADMIN_TOKEN', 'HTTP_PORT']);
    let message = '';
    try {
      loadConfig(env, undefined, { sources: s.sources });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(`HTTP_PORT: expected a port between 0 and 65535 (got "70000" from the env file ${path.join(dir, '.env')})`);
    expect(message).toContain(`ADMIN_TOKEN: expected at least 16 characters (got a hidden value of 5 characters from the env file ${path.join(dir, '.env')})`);
    expect(message).not.toContain('short');
  });

  it('is not read for --help or a usage error', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, '.env'), 'HTTP_PORT=1234\n');
    for (const argv of [['--help'], ['--bogus']]) {
      const env: NodeJS.ProcessEnv = {};
      expect(prepareStartup(argv, env, dir).envFile).toBeUndefined();
      expect(env).toEqual({});
    }
  });

  it('reports a missing named file instead of throwing', () => {
    const s = prepareStartup(['--env-file=nope.env'], {}, tmp());
    expect(s.error).toBeInstanceOf(ConfigError);
    expect(s.error?.issues[0]?.variable).toBe('--env-file');
  });
});
