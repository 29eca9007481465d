// Regenerates .env.example and the configuration table of docs/configuration.md from
// src/config/schema.ts (test/config/docs.test.ts fails when either drifts).
import fs from 'node:fs';
import { envExample, markdownTable } from '../src/config/docs.js';

const TABLE_FILE = 'docs/configuration.md';
const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

fs.writeFileSync('.env.example', envExample());
const doc = fs.readFileSync(TABLE_FILE, 'utf8');
const a = doc.indexOf(START);
const b = doc.indexOf(END);
if (a < 0 || b < a) throw new Error(`${TABLE_FILE} lacks the ${START} ... ${END} markers`);
fs.writeFileSync(TABLE_FILE, doc.slice(0, a + START.length) + '\n' + markdownTable() + '\n' + doc.slice(b));
console.log(`wrote .env.example and the configuration table of ${TABLE_FILE}`);
