// Which Node.js / glibc combinations can run Fourcast, decided before anything is
// installed. The limit is uWebSockets.js: it is a native addon, and each pinned package
// ships binaries for some Node ABIs only, linked against some minimum glibc.
//
//   node scripts/lib/runtime-check.mjs [--prefix TEXT]
//     prints the detected Node.js and glibc and the verdict; exits 0 (works, maybe with a
//     warning) or 1 (refused, with what works and what to do).
//
// Plain JavaScript with no dependencies: scripts/setup.sh runs it before `npm ci`, with
// whatever `node` is on PATH (old ones included, so keep the syntax conservative).
// FOURCAST_TEST_NODE_VERSION / FOURCAST_TEST_GLIBC_VERSION ("none": no glibc) replace
// what is detected, for tests only.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The uWebSockets.js packages in package.json, in the order src/signaling/uws.ts tries
 * them. Read off their npm tarballs: `uws_<platform>_<arch>_<ABI>.node` files, and the
 * newest GLIBC_x.y symbol version each Linux binary needs (`objdump -T`).
 * Keep in step with UWS_PACKAGES in src/signaling/uws.ts (a test compares them).
 */
export const UWS_BINARIES = [
  {
    package: '@btc-vision/uwebsockets.js',
    alias: 'uWebSockets.js-btc-vision',
    version: '20.57.0',
    // ABIs 115, 127, 137, 141
    nodeMajors: [20, 22, 24, 25],
    // platform-arch -> minimum glibc (null: not a glibc platform)
    platforms: { 'linux-x64': '2.38', 'linux-arm64': '2.38', 'darwin-x64': null, 'darwin-arm64': null, 'win32-x64': null },
  },
  {
    package: '@trufflesuite/uws-js-unofficial',
    alias: 'uWebSockets.js',
    version: '20.30.0-unofficial.0',
    // ABIs 93, 108, 115: Node 16 and 18 are below Fourcast's own floor
    nodeMajors: [20],
    platforms: { 'linux-x64': '2.27', 'linux-arm64': '2.27', 'linux-arm': '2.28', 'darwin-x64': null, 'darwin-arm64': null, 'win32-x64': null },
  },
];

/** Lowest release of a Node.js line the build needs (vite 8 / rolldown: ^20.19.0 || >=22.12.0). */
export const NODE_MINIMUM = { 20: '20.19.0', 22: '22.12.0' };

/** End of life of the Node.js lines above, https://nodejs.org/en/about/previous-releases. */
export const NODE_END_OF_LIFE = { 20: '2026-04-30', 22: '2027-04-30', 24: '2028-04-30', 25: '2026-06-01' };

const GLIBC_DISTROS = { '2.27': 'Ubuntu 18.04, Debian 10', '2.38': 'Debian 13 trixie, Ubuntu 24.04' };

/** -1, 0, 1 for dotted numeric versions ("2.36" vs "2.38", "20.19.0" vs "20.20.2"). */
export function compareVersions(a, b) {
  const pa = String(a).split('.').map(Number);
  const pb = String(b).split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] || 0;
    const y = pb[i] || 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

const majorsText = (items) => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`);
const glibcText = (v) => `glibc >= ${v}${GLIBC_DISTROS[v] ? ` (${GLIBC_DISTROS[v]})` : ''}`;
const nodeLineText = (major) => (NODE_MINIMUM[major] ? `${major} (>= ${NODE_MINIMUM[major]})` : String(major));

/**
 * One sentence per package: which Node.js lines it serves on this platform and what glibc they need.
 * `platformKey` is "linux-x64" and the like.
 */
export function whatWorks(platformKey) {
  const lines = [];
  for (const b of UWS_BINARIES) {
    if (!(platformKey in b.platforms)) continue;
    const glibc = b.platforms[platformKey];
    lines.push(`Node.js ${majorsText(b.nodeMajors.map(nodeLineText))}${glibc ? ` with ${glibcText(glibc)}` : ''}: ${b.package} ${b.version}`);
  }
  return lines;
}

/** Node.js lines with a binary on this platform and glibc, ascending. */
export function nodeLinesFor(platformKey, glibc) {
  const majors = [];
  for (const b of UWS_BINARIES) {
    if (!(platformKey in b.platforms)) continue;
    const need = b.platforms[platformKey];
    if (need && !(glibc && compareVersions(glibc, need) >= 0)) continue;
    for (const m of b.nodeMajors) if (majors.indexOf(m) < 0) majors.push(m);
  }
  return majors.sort((a, b) => a - b);
}

const isPast = (date, today) => today.toISOString().slice(0, 10) >= date;

/**
 * The decision. `node` is a version ("22.3.0" or "v22.3.0"), `glibc` a version ("2.36")
 * or null when the C library is not glibc (or not Linux), `platform`/`arch` as in
 * process.platform/process.arch, `today` a Date (for end-of-life warnings).
 * Returns { ok, level: 'ok'|'warn'|'refused', uws, fallbacks, reasons, warnings, works, advice }:
 * `uws` is the package src/signaling/uws.ts will load (null when refused), `reasons` say
 * what stands in the way (for a package that is skipped, or for the whole combination).
 */
export function checkRuntime({ node, glibc, platform = 'linux', arch = 'x64', today = new Date() }) {
  const version = String(node).replace(/^v/, '');
  const major = Number(version.split('.')[0]);
  const platformKey = `${platform}-${arch}`;
  const onLinux = platform === 'linux';
  glibc = onLinux ? glibc || null : null;
  const reasons = [];
  const warnings = [];
  const advice = [];
  const usable = [];
  let blocked = false;

  const allMajors = nodeLinesFor(platformKey, '999');
  const here = nodeLinesFor(platformKey, glibc);
  const newestLts = Math.max(...allMajors.filter((m) => m % 2 === 0), 0);
  // The glibc the first (newest) package needs here: the way to Node.js 22/24 on an older Linux.
  const newestNeeds = (UWS_BINARIES.find((b) => b.platforms[platformKey]) || { platforms: {} }).platforms[platformKey];
  const eolText = (m) => (NODE_END_OF_LIFE[m] && isPast(NODE_END_OF_LIFE[m], today) ? 'past end of life' : '');
  const lineText = (m, withEol) => {
    const notes = [NODE_MINIMUM[m] ? `>= ${NODE_MINIMUM[m]}` : '', withEol ? eolText(m) : ''].filter(Boolean);
    return notes.length ? `${m} (${notes.join(', ')})` : String(m);
  };

  if (!allMajors.length) {
    blocked = true;
    reasons.push(`no uWebSockets.js package in package.json ships a binary for ${platformKey}.`);
  } else if (!(major >= allMajors[0])) {
    blocked = true;
    reasons.push(`Node.js ${version} is too old: Fourcast needs Node.js ${majorsText(allMajors.map((m) => lineText(m)))}.`);
  } else if (onLinux && !glibc) {
    blocked = true;
    reasons.push('no glibc found (musl libc, e.g. Alpine?): the uWebSockets.js binaries are built for glibc Linux.');
  } else {
    if (NODE_MINIMUM[major] && compareVersions(version, NODE_MINIMUM[major]) < 0) {
      blocked = true;
      reasons.push(`Node.js ${version} is too old for the build (vite 8): use ${NODE_MINIMUM[major]} or a later ${major}.x.`);
    }
    if (major > allMajors[allMajors.length - 1]) {
      reasons.push(`Node.js ${major} is newer than every uWebSockets.js binary Fourcast pins (Node.js ${majorsText(allMajors)}).`);
    }
    for (const b of UWS_BINARIES) {
      const label = `${b.package} ${b.version}`;
      const need = b.platforms[platformKey];
      if (!(platformKey in b.platforms)) {
        reasons.push(`${label} has no binary for ${platformKey}.`);
      } else if (b.nodeMajors.indexOf(major) < 0) {
        reasons.push(`${label} has no binary for Node.js ${major} (only ${majorsText(b.nodeMajors)}).`);
      } else if (need && compareVersions(glibc, need) < 0) {
        reasons.push(`${label} has Node.js ${major} but needs glibc >= ${need}; this machine has ${glibc}.`);
      } else {
        usable.push(b);
      }
    }
  }

  const ok = !blocked && usable.length > 0;
  if (ok) {
    if (eolText(major)) {
      const next = here.indexOf(newestLts) >= 0 ? 'which works on this machine' : `which needs ${glibcText(newestNeeds)}`;
      warnings.push(`Node.js ${major} is past its end of life (${NODE_END_OF_LIFE[major]}) and gets no security fixes: plan a move to Node.js ${newestLts}, ${next}.`);
    }
  } else if (onLinux && !glibc && allMajors.length) {
    advice.push('use a glibc-based Linux or image (Debian, Ubuntu; e.g. node:20-bookworm-slim, node:24-trixie-slim).');
  } else if (here.length) {
    let text = `on this machine${glibc ? ` (glibc ${glibc})` : ''} use Node.js ${majorsText(here.map((m) => lineText(m, true)))}`;
    if (here.indexOf(newestLts) < 0) text += `; for Node.js ${majorsText(allMajors.filter((m) => here.indexOf(m) < 0))} move to ${glibcText(newestNeeds)}`;
    advice.push(`${text}.`);
  } else if (allMajors.length) {
    advice.push(`move to a Linux with a newer glibc (see "What works"); ${glibcText(newestNeeds)} runs every Node.js line above.`);
  }
  if (!ok && major > allMajors[allMajors.length - 1]) {
    advice.push(`Or update the uWebSockets.js packages in package.json once one ships a binary for Node.js ${major}.`);
  }

  return {
    ok,
    level: ok ? (warnings.length ? 'warn' : 'ok') : 'refused',
    node: version,
    major,
    glibc,
    platform: platformKey,
    uws: ok ? { package: usable[0].package, alias: usable[0].alias, version: usable[0].version } : null,
    fallbacks: ok ? usable.slice(1).map((b) => ({ package: b.package, alias: b.alias, version: b.version })) : [],
    reasons,
    warnings,
    works: whatWorks(platformKey),
    advice,
  };
}

/** What the machine has: Node.js version, ABI, glibc version and where it was read. */
export function detectRuntime(env = process.env) {
  const node = env.FOURCAST_TEST_NODE_VERSION || process.versions.node;
  let glibc = null;
  let source = 'not Linux';
  if (env.FOURCAST_TEST_GLIBC_VERSION) {
    glibc = env.FOURCAST_TEST_GLIBC_VERSION === 'none' ? null : env.FOURCAST_TEST_GLIBC_VERSION;
    source = 'FOURCAST_TEST_GLIBC_VERSION';
  } else if (process.platform === 'linux') {
    source = 'not found';
    const attempts = [
      ['getconf', ['GNU_LIBC_VERSION'], /glibc\s+(\d+\.\d+)/],
      ['ldd', ['--version'], /^ldd .*?(\d+\.\d+)\s*$/m],
    ];
    for (const [cmd, args, re] of attempts) {
      try {
        const m = re.exec(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }));
        if (m) {
          glibc = m[1];
          source = `${cmd} ${args.join(' ')}`;
          break;
        }
      } catch {
        // next way
      }
    }
    if (!glibc && process.report && typeof process.report.getReport === 'function') {
      const runtime = process.report.getReport().header.glibcVersionRuntime;
      if (runtime) {
        glibc = runtime;
        source = 'process.report';
      }
    }
  }
  const abi = env.FOURCAST_TEST_NODE_VERSION ? null : process.versions.modules;
  return { node, abi, glibc, glibcSource: source, platform: process.platform, arch: process.arch };
}

/** The lines setup prints. */
export function formatCheck(detected, result) {
  const lines = [
    `Node.js ${result.node}${detected.abi ? ` (ABI ${detected.abi})` : ''} on ${result.platform}, ` +
      `${result.glibc ? `glibc ${result.glibc}` : 'no glibc'} (${detected.glibcSource})`,
  ];
  if (result.ok) {
    lines.push(
      `uWebSockets.js: ${result.uws.package} ${result.uws.version} has a native binary for this combination` +
        (result.fallbacks.length ? ` (else ${result.fallbacks.map((f) => `${f.package} ${f.version}`).join(', ')})` : ''),
    );
    for (const r of result.reasons) lines.push(`  skipped: ${r}`);
    for (const w of result.warnings) lines.push(`WARNING: ${w}`);
  } else {
    lines.push('REFUSED: Fourcast cannot run on this Node.js/glibc combination (its uWebSockets.js binaries decide it):');
    for (const r of result.reasons) lines.push(`  - ${r}`);
    lines.push('What works:');
    for (const w of result.works) lines.push(`  - ${w}`);
    if (!result.works.length) lines.push(`  - nothing on ${result.platform}`);
    result.advice.forEach((a, i) => lines.push(`${i ? '  ' : 'Fix: '}${a}`));
  }
  return lines;
}

function main(argv) {
  const i = argv.indexOf('--prefix');
  const prefix = i >= 0 && argv[i + 1] !== undefined ? `${argv[i + 1]} ` : '';
  const detected = detectRuntime();
  const result = checkRuntime({ node: detected.node, glibc: detected.glibc, platform: detected.platform, arch: detected.arch });
  const out = result.ok ? process.stdout : process.stderr;
  for (const line of formatCheck(detected, result)) out.write(`${prefix}${line}\n`);
  return result.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
