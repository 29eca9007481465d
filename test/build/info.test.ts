import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BuildError, checkBuild, computeBuildInfo } from '../../src/build/info.js';

// A throwaway project tree: sources, then a "build" of them, then edits.
let root: string;
function project(): string {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-build-'));
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  write('package.json', '{"name":"fourcast"}');
  write('package-lock.json', '{}');
  write('client/watch.ts', 'export {}');
  write('src/protocol/messages.ts', 'export const V = 1;');
  write('src/server.ts', 'export {}');
  return root;
}
function build(): void {
  for (const p of ['index.html', 'watch.html', 'broadcast.html']) {
    fs.mkdirSync(path.join(root, 'dist/client'), { recursive: true });
    fs.writeFileSync(path.join(root, 'dist/client', p), '<!doctype html>');
  }
  fs.writeFileSync(path.join(root, 'dist/build-info.json'), JSON.stringify(computeBuildInfo(root)));
}
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe('checkBuild', () => {
  it('refuses a missing client build, naming the command that fixes it', () => {
    project();
    expect(() => checkBuild(root, { serverFromDist: true })).toThrow(/not built.*npm run build/);
  });

  it('accepts a fresh build and returns dist/client', () => {
    project();
    build();
    expect(checkBuild(root, { serverFromDist: true }).clientDir).toBe(path.join(root, 'dist/client'));
  });

  it('refuses a build older than the client or the protocol it shares', () => {
    project();
    build();
    fs.writeFileSync(path.join(root, 'src/protocol/messages.ts'), 'export const V = 2;');
    expect(() => checkBuild(root, { serverFromDist: false })).toThrow(BuildError);
    expect(() => checkBuild(root, { serverFromDist: false })).toThrow(/older than the sources of client\/.*npm run build/);
  });

  it('checks server sources only when the server runs from dist/', () => {
    project();
    build();
    fs.writeFileSync(path.join(root, 'src/server.ts'), 'export const changed = 1;');
    expect(() => checkBuild(root, { serverFromDist: false })).not.toThrow();
    expect(() => checkBuild(root, { serverFromDist: true })).toThrow(/src\/ \(the server\)/);
  });

  it('trusts dist/ alone when no sources ship with it (a deployed image)', () => {
    project();
    build();
    fs.rmSync(path.join(root, 'client'), { recursive: true });
    fs.rmSync(path.join(root, 'src'), { recursive: true });
    expect(() => checkBuild(root, { serverFromDist: true })).not.toThrow();
  });
});
