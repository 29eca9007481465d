import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envExample, markdownTable, variableDocs } from '../../src/config/docs.js';

const root = new URL('../..', import.meta.url).pathname;

describe('configuration docs', () => {
  it('document every variable with a meaning', () => {
    for (const v of variableDocs()) expect(v.description, v.name).not.toBe('');
  });

  it('.env.example and the README table match the schema (run `npm run config:docs`)', () => {
    expect(fs.readFileSync(`${root}.env.example`, 'utf8')).toBe(envExample());
    expect(fs.readFileSync(`${root}README.md`, 'utf8')).toContain(markdownTable());
  });
});
