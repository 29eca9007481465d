import type { z } from 'zod';
import { aliases, configSchema, passthroughVariables, secretVariables } from './schema.js';

// Everything written about the variables comes from src/config/schema.ts: `.env.example`,
// the table in docs/configuration.md (both by `npm run config:docs`, checked by
// test/config/docs.test.ts) and the entry point's `--help`.

export interface VariableDoc {
  name: string;
  default: string | undefined;
  description: string;
  aliases: string[];
  /** Never printed in errors. */
  secret: boolean;
}

function defaultOf(field: z.ZodType): unknown {
  const def = (field as unknown as { _zod: { def: { type: string; defaultValue?: unknown; innerType?: z.ZodType } } })._zod.def;
  if (def.type === 'default') return def.defaultValue;
  return undefined;
}

/** One entry per variable, straight from the schema: docs cannot drift from the code. */
export function variableDocs(): VariableDoc[] {
  return Object.entries(configSchema.shape).map(([name, field]) => {
    const d = defaultOf(field as z.ZodType);
    return {
      name,
      default: d === undefined ? undefined : Array.isArray(d) ? d.join(',') : String(d),
      description: (field as z.ZodType).description ?? '',
      aliases: Object.entries(aliases).filter(([, c]) => c === name).map(([a]) => a),
      secret: secretVariables.has(name),
    };
  });
}

const SECRET_NOTE = 'Secret: never printed.';

export function envExample(): string {
  const lines = [
    '# Fourcast configuration. Every variable is optional: with none set, Fourcast runs',
    '# a single node with no external services (STUN-only ICE, in-memory chat).',
    '# Copy this file to .env (read from the working directory at start; real environment',
    '# variables win) or pass --env-file=PATH. Guide: docs/configuration.md.',
    '# Generated from src/config/schema.ts by `npm run config:docs`.',
    '',
  ];
  for (const v of variableDocs()) {
    lines.push(`# ${v.description}${v.secret ? ` ${SECRET_NOTE}` : ''}${v.aliases.length ? ` Aliases: ${v.aliases.join(', ')}.` : ''}`);
    lines.push(`#${v.name}=${v.default ?? ''}`);
    lines.push('');
  }
  lines.push('# Read by libraries, not by Fourcast itself:');
  lines.push('');
  for (const p of passthroughVariables) {
    lines.push(`# (${p.readBy}) ${p.description}`);
    lines.push(`#${p.name}=`);
    lines.push('');
  }
  return lines.join('\n');
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function markdownTable(): string {
  const rows = variableDocs().map((v) => {
    const name = '`' + v.name + '`' + (v.aliases.length ? ` (or ${v.aliases.map((a) => '`' + a + '`').join(', ')})` : '');
    const def = v.default === undefined ? '—' : '`' + v.default + '`';
    return `| ${name} | ${def} | ${cell(v.description)}${v.secret ? ` ${SECRET_NOTE}` : ''} |`;
  });
  const passthrough = passthroughVariables.map((p) => `| \`${p.name}\` | ${p.readBy} | ${cell(p.description)} |`);
  return [
    '| Variable | Default | Meaning |',
    '| --- | --- | --- |',
    ...rows,
    '',
    'Read by a library from the process environment, not by Fourcast (an env file sets them too):',
    '',
    '| Variable | Read by | Meaning |',
    '| --- | --- | --- |',
    ...passthrough,
  ].join('\n');
}

/** Greedy word wrap for the terminal. */
function wrap(text: string, width: number, indent: string): string {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width - indent.length) {
      out.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(indent + line);
  return out.join('\n');
}

const plain = (text: string) => text.replace(/`/g, '');

/** The short usage: printed with a usage error (exit 64) and at the top of `--help`. */
export function usage(): string {
  return [
    'Usage:',
    '  node dist/server/main.js [--env-file=PATH]    start a node (npm start [-- --env-file=PATH])',
    '  node dist/server/main.js --help               print this help and exit',
    '',
    'The two commands, in a checkout (Debian 12 with Node.js 20):',
    '  bash scripts/setup.sh && npm start            set up, build and run; prints a broadcaster link and a viewer link',
    '  bash scripts/setup.sh --test && npm test      set up with the test tools and run every test',
    '',
    'Options:',
    '  --env-file=PATH   read variables from PATH instead of ./.env (FOURCAST_ENV_FILE=PATH does the same);',
    '                    a file named this way must exist. ./.env is read when present. Variables set in the',
    '                    environment win over the file. (Node.js itself stops first, exit 9, when an',
    '                    --env-file argument names a missing file: "node: PATH: not found".)',
    '  -h, --help        print this help and exit 0 without starting anything',
    '',
    'Exit codes:',
    '  0   stopped after SIGTERM/SIGINT (drained), or --help',
    '  1   unexpected failure (the message says what)',
    '  64  bad command line (this usage is printed)',
    '  69  a part is unavailable: the uWebSockets.js native binary, the mediasoup worker,',
    '      or the web client build (dist/ missing or older than the sources)',
    '  78  invalid configuration: each bad variable is named with its value (secrets hidden) and',
    '      where it came from; also an unreadable env file or TLS certificate/key',
    '',
  ].join('\n');
}

/** `--help`: the usage, then every variable with its default, generated from the schema. */
export function helpText(width = 100): string {
  const lines = [
    'Fourcast: a live-stage server (four broadcasters per room, unlimited viewers, chat).',
    '',
    usage(),
    'Configuration: environment variables, all optional; ./.env or --env-file under them, and the',
    'JSON file named by FOURCAST_CONFIG_FILE under both. NAME=default (none shown when unset):',
    '',
  ];
  for (const v of variableDocs()) {
    const names = [v.name, ...v.aliases].join(' | ');
    lines.push(`  ${names}=${v.default ?? ''}`);
    lines.push(wrap(plain(v.description) + (v.secret ? ` ${SECRET_NOTE}` : ''), width, '      '));
  }
  lines.push('', 'Read by libraries, not by Fourcast:', '');
  for (const p of passthroughVariables) {
    lines.push(`  ${p.name}  (${p.readBy})`);
    lines.push(wrap(plain(p.description), width, '      '));
  }
  lines.push('', 'Guide: docs/configuration.md, docs/deployment.md and docs/operations.md in the repository.', '');
  return lines.join('\n');
}
