// Regenerates .env.example and the README's configuration table from the schema.
import fs from 'node:fs';
import { envExample, markdownTable } from '../src/config/docs.js';

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

fs.writeFileSync('.env.example', envExample());
const readme = fs.readFileSync('README.md', 'utf8');
const a = readme.indexOf(START);
const b = readme.indexOf(END);
if (a < 0 || b < a) throw new Error(`README.md lacks the ${START} ... ${END} markers`);
fs.writeFileSync('README.md', readme.slice(0, a + START.length) + '\n' + markdownTable() + '\n' + readme.slice(b));
console.log('wrote .env.example and the README configuration table');
