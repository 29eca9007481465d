import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, maskCredentials } from '../../src/config/index.js';
import { secretVariables } from '../../src/config/schema.js';

function errorOf(env: Record<string, string>, sources?: Record<string, string>): ConfigError {
  try {
    loadConfig(env, undefined, { sources });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('runs with no variables at all (the main job needs no external services)', () => {
    const c = loadConfig({}, () => 'generated-secret');
    expect(c.http.port).toBe(3000);
    expect(c.ws.port).toBe(3001);
    expect(c.media.workers).toBeGreaterThanOrEqual(1);
    expect(c.auth.tokenSecret).toBe('generated-secret');
    expect(c.auth.tokenSecretGenerated).toBe(true);
    expect(c.turn.twilio).toBeUndefined();
    expect(c.turn.coturn).toBeUndefined();
    expect(c.turn.stunUrls.length).toBeGreaterThan(0);
    expect(c.redisUrl).toBeUndefined();
    expect(c.chat.history).toBe(25);
  });

  it.each([
    ['HTTP_PORT', 'eighty', /HTTP_PORT: expected a port/],
    ['HTTP_PORT', '70000', /HTTP_PORT: expected a port between 0 and 65535/],
    ['RTC_LISTEN_IP', 'localhost', /RTC_LISTEN_IP: expected an IPv4 or IPv6 address/],
    ['MEDIASOUP_WORKERS', '0', /MEDIASOUP_WORKERS:/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL:.*"info"/],
    ['TOKEN_SECRET', 'short', /TOKEN_SECRET: expected at least 32 characters/],
    ['TWILIO_ACCOUNT_SID', 'SK123', /TWILIO_ACCOUNT_SID: expected a Twilio account SID/],
    ['STUN_URLS', 'http://example.com', /STUN_URLS: expected a comma-separated list of stun\/stuns: URLs/],
    ['REDIS_URL', 'http://localhost:6379', /REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/],
    ['CHAT_HISTORY', '-3', /CHAT_HISTORY: expected at least 1/],
    ['RTC_ANNOUNCED_ADDRESS', '0.0.0.0', /RTC_ANNOUNCED_ADDRESS: expected an address browsers can reach/],
    ['RTC_ANNOUNCED_ADDRESS', '::', /RTC_ANNOUNCED_ADDRESS: expected an address browsers can reach/],
  ])('names %s when it is %j', (variable, value, pattern) => {
    const err = errorOf({ [variable]: value });
    expect(err.issues.map((i) => i.variable)).toContain(variable);
    expect(err.message).toMatch(pattern);
  });

  it('resolves RECORDING_DIR against the working directory; a file there is refused by name', () => {
    expect(loadConfig({}).recording).toEqual({ dir: path.resolve('recordings'), ffmpeg: 'ffmpeg' });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-recdir-'));
    try {
      expect(loadConfig({ RECORDING_DIR: path.join(tmp, 'not-yet'), RECORDING_FFMPEG: '/opt/ffmpeg/bin/ffmpeg' }).recording).toEqual({
        dir: path.join(tmp, 'not-yet'),
        ffmpeg: '/opt/ffmpeg/bin/ffmpeg',
      });
      const file = path.join(tmp, 'a-file');
      fs.writeFileSync(file, '');
      const err = errorOf({ RECORDING_DIR: file });
      expect(err.issues.map((i) => i.variable)).toEqual(['RECORDING_DIR']);
      expect(err.message).toMatch(/RECORDING_DIR: expected a folder .* is a file \(got ".*a-file" from the environment\)/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('reports every bad variable at once', () => {
    const err = errorOf({ HTTP_PORT: 'x', WS_PORT: 'y' });
    expect(err.issues.map((i) => i.variable).sort()).toEqual(['HTTP_PORT', 'WS_PORT']);
  });

  it('accepts the seed apps’ TWILIO_SSID / TWILIO_TOKEN as aliases', () => {
    const sid = 'AC' + 'a'.repeat(32);
    const c = loadConfig({ TWILIO_SSID: sid, TWILIO_TOKEN: 'tok' });
    expect(c.turn.twilio).toEqual({ accountSid: sid, authToken: 'tok' });
  });

  it('refuses an alias that contradicts its canonical variable', () => {
    const err = errorOf({ TWILIO_SSID: 'AC' + 'a'.repeat(32), TWILIO_ACCOUNT_SID: 'AC' + 'b'.repeat(32) });
    expect(err.issues[0]?.variable).toBe('TWILIO_SSID');
  });

  it('needs both halves of the Twilio credentials', () => {
    const err = errorOf({ TWILIO_ACCOUNT_SID: 'AC' + 'a'.repeat(32) });
    expect(err.issues[0]?.variable).toBe('TWILIO_AUTH_TOKEN');
  });

  it('needs TURN_URLS with TURN_SECRET', () => {
    expect(errorOf({ TURN_SECRET: 'sharedsecret' }).issues[0]?.variable).toBe('TURN_URLS');
    const c = loadConfig({ TURN_SECRET: 'sharedsecret', TURN_URLS: 'turn:127.0.0.1:3478, turn:127.0.0.1:3478?transport=tcp' });
    expect(c.turn.coturn?.urls).toEqual(['turn:127.0.0.1:3478', 'turn:127.0.0.1:3478?transport=tcp']);
  });

  it('refuses the same port for HTTP and WebSocket', () => {
    expect(errorOf({ HTTP_PORT: '4000', WS_PORT: '4000' }).issues[0]?.variable).toBe('WS_PORT');
  });

  it('reads a JSON file of the same variables, with the environment on top', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-cfg-'));
    const file = path.join(dir, 'production.json');
    fs.writeFileSync(file, JSON.stringify({ HTTP_PORT: 8080, MEDIASOUP_WORKERS: 3, STUN_URLS: ['stun:a.example:3478', 'stun:b.example:3478'] }));
    const c = loadConfig({ FOURCAST_CONFIG_FILE: file, HTTP_PORT: '9090' });
    expect(c.http.port).toBe(9090);
    expect(c.media.workers).toBe(3);
    expect(c.turn.stunUrls).toEqual(['stun:a.example:3478', 'stun:b.example:3478']);
  });

  it('names an unknown key in the config file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-cfg-'));
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ HTTP_PROT: 1 }));
    expect(errorOf({ FOURCAST_CONFIG_FILE: file }).issues[0]?.variable).toBe('HTTP_PROT');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ HTTP_PORT: '', REDIS_URL: '' }).http.port).toBe(3000);
  });

  it('shows the bad value and where it came from', () => {
    expect(errorOf({ HTTP_PORT: '70000' }).message).toContain('HTTP_PORT: expected a port between 0 and 65535 (got "70000" from the environment)');
    const fromFile = errorOf({ HTTP_PORT: '70000' }, { HTTP_PORT: 'the env file /srv/fourcast/.env' });
    expect(fromFile.message).toContain('(got "70000" from the env file /srv/fourcast/.env)');
    expect(errorOf({ TWILIO_SSID: 'SK123' }).message).toContain('TWILIO_ACCOUNT_SID: expected a Twilio account SID (AC + 32 hex digits) (got "SK123" from TWILIO_SSID in the environment)');
    expect(errorOf({ HTTP_PORT: '4000', WS_PORT: '4000' }).message).toContain('WS_PORT: must differ from HTTP_PORT (got "4000" from the environment)');
  });

  it('names the JSON config file a bad value came from', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-cfg-'));
    const file = path.join(dir, 'production.json');
    fs.writeFileSync(file, JSON.stringify({ WS_PORT: 99999, LOG_LEVEL: 'info' }));
    expect(errorOf({ FOURCAST_CONFIG_FILE: file }).message).toContain(`WS_PORT: expected a port between 0 and 65535 (got "99999" from the config file ${file})`);
  });

  // TWILIO_AUTH_TOKEN takes any non-empty value, so no value of it alone is refused.
  it.each([...secretVariables].filter((v) => v !== 'TWILIO_AUTH_TOKEN'))('never prints the value of %s', (variable) => {
    const err = errorOf({ [variable]: 'hunter2' }); // too short for each of them
    expect(err.message).toContain(`${variable}: `);
    expect(err.message).toContain('(got a hidden value of 7 characters from the environment)');
    expect(err.message).not.toContain('hunter2');
  });

  it('hides a Twilio auth token that fails with its SID, and a long secret', () => {
    const secret = 'hunter2-is-not-a-good-secret';
    const err = errorOf({ TOKEN_SECRET: secret, TWILIO_SSID: 'bad', TWILIO_TOKEN: secret });
    expect(err.message).not.toContain(secret);
    expect(err.message).toContain(`TOKEN_SECRET: expected at least 32 characters (got a hidden value of ${secret.length} characters from the environment)`);
  });

  it('masks credentials in a REDIS_URL it refuses', () => {
    const err = errorOf({ REDIS_URL: 'redis//default:hunter2@cache.internal:6379' });
    expect(err.message).not.toContain('hunter2');
    expect(err.message).toContain('(got "redis//***@cache.internal:6379" from the environment)');
    expect(errorOf({ REDIS_URL: 'http://u:hunter2@h:1/?password=hunter2' }).message).not.toContain('hunter2');
    expect(maskCredentials('rediss://:pw@h:6380/0?password=pw&db=1')).toBe('rediss://***@h:6380/0?password=***&db=1');
    expect(maskCredentials('https://live.example.com/')).toBe('https://live.example.com/');
  });

  it('refuses URLs of the wrong scheme', () => {
    expect(errorOf({ PUBLIC_URL: 'ftp://x' }).message).toContain('PUBLIC_URL: expected an absolute http:// or https:// URL (got "ftp://x" from the environment)');
    expect(errorOf({ PUBLIC_WS_URL: 'http://x/ws' }).issues[0]?.variable).toBe('PUBLIC_WS_URL');
    expect(errorOf({ PUBLIC_URL: 'https://live.example.com', PUBLIC_WS_URL: 'ws://live.example.com/ws' }).issues[0]?.variable).toBe('PUBLIC_WS_URL');
  });

  it('refuses the variables that name files inside the config file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-cfg-'));
    const file = path.join(dir, 'nested.json');
    fs.writeFileSync(file, JSON.stringify({ FOURCAST_CONFIG_FILE: 'other.json', HTTP_PORT: { port: 1 } }));
    expect(errorOf({ FOURCAST_CONFIG_FILE: file }).issues.map((i) => i.variable)).toEqual(['FOURCAST_CONFIG_FILE', 'HTTP_PORT']);
  });
});
