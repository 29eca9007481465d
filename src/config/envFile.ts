import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, parseEnv } from 'node:util';
import { ConfigError } from './index.js';

// The entry point's command line and env file. Kept apart from src/main.ts so it can run
// before the server's modules load (see src/config/startup.ts) and be tested alone.

/** What the command line asks for. */
export type Command =
  | { kind: 'start'; envFile: string | undefined }
  | { kind: 'help' }
  /** Exit 64 (EX_USAGE) with the usage. */
  | { kind: 'usage-error'; message: string };

/** `[--env-file=PATH] [-h|--help]`; anything else is a usage error. */
export function parseCommandLine(argv: readonly string[]): Command {
  let values: { help?: boolean; 'env-file'?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { help: { type: 'boolean', short: 'h' }, 'env-file': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    // Node's first sentence names the argument ("Unknown option '--x'"); the rest is generic advice.
    return { kind: 'usage-error', message: (err as Error).message.split(/\.\s/)[0]!.replace(/\.$/, '') };
  }
  if (values.help) return { kind: 'help' };
  const envFile = values['env-file'];
  if (envFile === '') return { kind: 'usage-error', message: '--env-file needs a path (--env-file=PATH)' };
  return { kind: 'start', envFile };
}

/** Which env file to read, and what named it. */
export interface EnvFileChoice {
  /** Absolute path. */
  file: string;
  /** `--env-file` and `FOURCAST_ENV_FILE` name a file that must exist; `./.env` is read when present. */
  via: '--env-file' | 'FOURCAST_ENV_FILE' | './.env';
}

/** `--env-file=PATH`, else FOURCAST_ENV_FILE from the environment, else `./.env` when it exists. */
export function chooseEnvFile(arg: string | undefined, env: NodeJS.ProcessEnv, cwd: string): EnvFileChoice | undefined {
  if (arg) return { file: path.resolve(cwd, arg), via: '--env-file' };
  const named = env.FOURCAST_ENV_FILE;
  if (named) return { file: path.resolve(cwd, named), via: 'FOURCAST_ENV_FILE' };
  const implicit = path.resolve(cwd, '.env');
  return fs.existsSync(implicit) ? { file: implicit, via: './.env' } : undefined;
}

/**
 * Reads an env file with Node's own parser (`util.parseEnv`, the one behind
 * `node --env-file`): `KEY=value` lines, `#` comments, optional `export `, single,
 * double or backtick quotes, multi-line values in double quotes, no `${VAR}` expansion.
 */
export function readEnvFile(choice: EnvFileChoice): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(choice.file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
    throw new ConfigError([{ variable: choice.via === './.env' ? 'env file' : choice.via, message: `cannot read the env file ${choice.file} (${reason})` }]);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parseEnv(text))) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Puts the file's variables into `env` under the ones already there: a variable the
 * environment sets to a non-empty value wins; an empty one counts as unset (as everywhere
 * in Fourcast's configuration). Variables Fourcast does not know are set too (a library
 * such as mediasoup may read them).
 */
export function applyEnvFile(vars: Record<string, string>, env: NodeJS.ProcessEnv): { applied: string[]; overridden: string[] } {
  const applied: string[] = [];
  const overridden: string[] = [];
  for (const [k, v] of Object.entries(vars)) {
    const current = env[k];
    if (current !== undefined && current !== '') {
      overridden.push(k);
      continue;
    }
    env[k] = v;
    applied.push(k);
  }
  return { applied, overridden };
}

/** What the entry point decided before anything else was loaded. */
export interface Startup {
  command: Command;
  /** The env file read, when one was. */
  envFile?: EnvFileChoice & { applied: string[]; overridden: string[] };
  /** Where each variable the env file set came from, for configuration errors (`loadConfig`'s `sources`). */
  sources: Record<string, string>;
  /** The named env file could not be read: exit 78. */
  error?: ConfigError;
}

/**
 * Parses the command line and, when it asks to start, reads the env file into `env`.
 * Never throws and never exits: src/main.ts decides what to print and which exit code.
 */
export function prepareStartup(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Startup {
  const command = parseCommandLine(argv);
  if (command.kind !== 'start') return { command, sources: {} };
  const choice = chooseEnvFile(command.envFile, env, cwd);
  if (!choice) return { command, sources: {} };
  let vars: Record<string, string>;
  try {
    vars = readEnvFile(choice);
  } catch (err) {
    if (err instanceof ConfigError) return { command, sources: {}, error: err };
    throw err;
  }
  const { applied, overridden } = applyEnvFile(vars, env);
  const sources: Record<string, string> = {};
  for (const k of applied) sources[k] = `the env file ${choice.file}`;
  return { command, envFile: { ...choice, applied, overridden }, sources };
}
