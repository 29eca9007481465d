import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { envExample, helpText, markdownTable, variableDocs } from '../../src/config/docs.js';
import { configSchema, passthroughVariables, secretVariables } from '../../src/config/schema.js';
import { errorCodes, requestSchemas } from '../../src/protocol/messages.js';

const root = new URL('../..', import.meta.url).pathname;
const read = (file: string) => fs.readFileSync(`${root}${file}`, 'utf8');

/** GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to dashes. */
function headingSlugs(markdown: string): string[] {
  return [...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
    m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-'),
  );
}

describe('configuration docs', () => {
  it('document every variable with a meaning', () => {
    for (const v of variableDocs()) expect(v.description, v.name).not.toBe('');
    for (const p of passthroughVariables) expect(p.description, p.name).not.toBe('');
  });

  it('.env.example and the table in docs/configuration.md match the schema (run `npm run config:docs`)', () => {
    expect(read('.env.example')).toBe(envExample());
    const doc = read('docs/configuration.md');
    const start = doc.indexOf('<!-- config-table:start -->\n');
    const end = doc.indexOf('\n<!-- config-table:end -->');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(doc.slice(start + '<!-- config-table:start -->\n'.length, end)).toBe(markdownTable());
  });

  it('the README no longer carries the table, and links the page that does', () => {
    const readme = read('README.md');
    expect(readme).not.toContain('<!-- config-table:start -->');
    expect(readme).toContain('docs/configuration.md');
  });

  it('mention MEDIASOUP_WORKER_BIN, which an error message suggests', () => {
    expect(envExample()).toMatch(/^#MEDIASOUP_WORKER_BIN=/m);
    expect(markdownTable()).toContain('`MEDIASOUP_WORKER_BIN`');
    expect(helpText()).toContain('MEDIASOUP_WORKER_BIN');
  });

  it('mark every secret, and only variables that exist', () => {
    for (const name of secretVariables) {
      expect(Object.keys(configSchema.shape), name).toContain(name);
      expect(markdownTable()).toMatch(new RegExp(`\\| \`${name}\`.*Secret: never printed\\. \\|`));
    }
  });

  it('say nothing the code does not do (descriptions found wrong once)', () => {
    const byName = Object.fromEntries(variableDocs().map((v) => [v.name, v.description]));
    // There is no per-room token setting: ALLOW_ANONYMOUS_VIEWERS is server-wide.
    expect(byName.ALLOW_ANONYMOUS_VIEWERS).not.toMatch(/rooms can/i);
    expect(byName.ALLOW_ANONYMOUS_VIEWERS).toMatch(/no per-room setting/);
    // Cluster mode relays media through pipes, one per track (not per viewer).
    expect(byName.REDIS_URL).not.toMatch(/joins nodes/i);
    expect(byName.REDIS_URL).toMatch(/one pipe per track/);
  });

  it('--help lists every variable with its default', () => {
    const help = helpText();
    for (const v of variableDocs()) expect(help, v.name).toContain(`  ${[v.name, ...v.aliases].join(' | ')}=${v.default ?? ''}\n`);
    for (const code of ['64', '69', '78']) expect(help).toMatch(new RegExp(`^  ${code} `, 'm'));
  });
});

describe('the operator\'s guide', () => {
  it('docs/protocol.md names every request, notification and error code of src/protocol/messages.ts', () => {
    const doc = read('docs/protocol.md');
    const source = read('src/protocol/messages.ts');
    const block = /export interface Notifications \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? '';
    const notifications = [...block.matchAll(/^ {2}([a-zA-Z]+)[?]?:/gm)].map((m) => m[1]!);
    expect(notifications.length).toBeGreaterThan(10);
    for (const name of [...Object.keys(requestSchemas), ...notifications, ...errorCodes]) expect(doc, name).toContain(`\`${name}\``);
  });

  it('README and docs/ link only files that exist, inside the repository', () => {
    const files = ['README.md', ...fs.readdirSync(`${root}docs`).map((f) => `docs/${f}`)];
    for (const file of files) {
      const text = read(file);
      expect(text, file).not.toMatch(/\.\.\/shared|ENVIRONMENT\.md/);
      for (const m of text.matchAll(/\]\(([^)#\s]*)(#[^)\s]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue; // https://…
        const resolved = target ? new URL(target, `file://${root}${file}`).pathname : `${root}${file}`;
        expect(resolved.startsWith(root), `${file} links ${target}`).toBe(true);
        expect(fs.existsSync(resolved), `${file} links ${target}`).toBe(true);
        const anchor = m[2]?.slice(1);
        if (anchor && resolved.endsWith('.md')) expect(headingSlugs(fs.readFileSync(resolved, 'utf8')), `${file} links ${target}#${anchor}`).toContain(anchor);
      }
    }
  });

  it('docs/operations.md names only metrics that exist, and its alert rules pass promtool', () => {
    const doc = read('docs/operations.md');
    const source = read('src/metrics/metrics.ts');
    const names = new Set([...doc.matchAll(/\bfourcast_[a-z_]+/g)].map((m) => m[0]));
    expect(names.size).toBeGreaterThan(15);
    for (const name of names) expect(source, name).toContain(`'${name}'`);
    const rules = /```yaml\n(groups:[\s\S]*?)```/.exec(doc)?.[1];
    expect(rules).toBeDefined();
    const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (promtool.error) return; // promtool comes with `setup.sh --test`; the metric names above are checked anyway
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fourcast-rules-')), 'rules.yml');
    fs.writeFileSync(file, rules!);
    const check = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(check.status).toBe(0);
  });
});
