import fs from 'node:fs';
import path from 'node:path';
import { BUILD_INFO, computeBuildInfo, projectRoot } from './info.js';

// Last step of `npm run build`: records which sources dist/ was built from.
const root = projectRoot();
const info = computeBuildInfo(root);
fs.writeFileSync(path.join(root, 'dist', BUILD_INFO), `${JSON.stringify(info, null, 2)}\n`);
