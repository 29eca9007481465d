import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where every benchmark writes its results (git-ignored; the runs the docs quote are copied to bench/results/). */
export const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench-results');

/** Writes `<name>.json` (the raw numbers) and `<name>.md` (the report), and prints the report. */
export function writeReport(name: string, report: unknown, md: string): void {
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, `${name}.md`), md);
  console.log('\n' + md);
}
