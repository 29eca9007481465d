import type { z } from 'zod';
import { aliases, configSchema } from './schema.js';

export interface VariableDoc {
  name: string;
  default: string | undefined;
  description: string;
  aliases: string[];
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
    };
  });
}

export function envExample(): string {
  const lines = [
    '# Fourcast configuration. Every variable is optional: with none set, Fourcast runs',
    '# a single node with no external services (STUN-only ICE, in-memory chat).',
    '# Generated from src/config/schema.ts by `npm run config:docs`.',
    '',
  ];
  for (const v of variableDocs()) {
    lines.push(`# ${v.description}${v.aliases.length ? ` Aliases: ${v.aliases.join(', ')}.` : ''}`);
    lines.push(`#${v.name}=${v.default ?? ''}`);
    lines.push('');
  }
  return lines.join('\n');
}

export function markdownTable(): string {
  const rows = variableDocs().map((v) => {
    const name = '`' + v.name + '`' + (v.aliases.length ? ` (or ${v.aliases.map((a) => '`' + a + '`').join(', ')})` : '');
    const def = v.default === undefined ? '—' : '`' + v.default + '`';
    return `| ${name} | ${def} | ${v.description.replace(/\|/g, '\\|')} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
