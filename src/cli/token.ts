// Mints an access token with the node's TOKEN_SECRET and prints it with the links it opens.
//   npm run token -- --role publisher --room main-stage --name Alice --ttl 3600
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/index.js';
import { applyEnvFile, chooseEnvFile, readEnvFile } from '../config/envFile.js';
import { TokenService } from '../auth/tokens.js';
import { roles } from '../protocol/messages.js';
import { TOKEN_TTL, accessLinks, checkGrantRequest } from '../auth/links.js';

const USAGE = `Usage: npm run token -- [options]

Mints a signed access token (JWT) for a Fourcast node and prints it with its
broadcast/watch links. The node must run with the same TOKEN_SECRET.

Options:
  --role <role>    ${roles.join(' | ')} (default: publisher)
  --room <room>    room id, or "*" (every room) for an admin token (default: DEFAULT_ROOM)
  --name <name>    display name, 1-32 characters (default: Broadcaster / Viewer / Admin)
  --ttl <seconds>  lifetime, ${TOKEN_TTL.min}..${TOKEN_TTL.max} (default: ${TOKEN_TTL.default})
  --json           print one JSON object instead of text
  -h, --help       show this help

Environment (or FOURCAST_CONFIG_FILE, or the env file: FOURCAST_ENV_FILE, else ./.env):
TOKEN_SECRET (required), PUBLIC_URL
(default http://localhost:HTTP_PORT), HTTP_PORT, DEFAULT_ROOM.

Exit codes: 0 minted, 2 usage error or TOKEN_SECRET missing, 78 invalid configuration.
`;

const defaultNames = { publisher: 'Broadcaster', viewer: 'Viewer', admin: 'Admin' } as const;

function fail(code: number, message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        role: { type: 'string' },
        room: { type: 'string' },
        name: { type: 'string' },
        ttl: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(2, `${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }

  let config;
  try {
    // The same env file as the server: FOURCAST_ENV_FILE, else ./.env when present.
    const envFile = chooseEnvFile(undefined, process.env, process.cwd());
    if (envFile) applyEnvFile(readEnvFile(envFile), process.env);
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(78, err.message);
    throw err;
  }
  // A random secret (what the server does when it is unset) would mint tokens no node accepts.
  if (config.auth.tokenSecretGenerated) {
    fail(2, 'TOKEN_SECRET is not set. Set it (at least 32 characters) to the value the server runs with, in the environment or FOURCAST_CONFIG_FILE.');
  }

  const role = values.role ?? 'publisher';
  const ttlText = values.ttl ?? String(TOKEN_TTL.default);
  const ttlSeconds = /^\d+$/.test(ttlText) ? Number(ttlText) : NaN;
  if (!(ttlSeconds >= TOKEN_TTL.min && ttlSeconds <= TOKEN_TTL.max)) fail(2, `--ttl must be a whole number of seconds from ${TOKEN_TTL.min} to ${TOKEN_TTL.max}`);
  const checked = checkGrantRequest({
    role,
    room: values.room ?? config.defaultRoom,
    name: values.name ?? defaultNames[role as keyof typeof defaultNames] ?? 'Guest',
    ttlSeconds,
  });
  if (!checked.ok) fail(2, checked.message);
  const { grant } = checked;

  const tokens = new TokenService(config.auth.tokenSecret);
  const token = await tokens.mint(grant);
  const { exp } = await tokens.verify(token);
  const expiresAt = new Date(exp * 1000).toISOString();
  const base = config.http.publicUrl ?? `${config.tls ? 'https' : 'http'}://localhost:${config.http.port}`;
  const links = accessLinks(base, grant, token);

  if (values.json) {
    process.stdout.write(`${JSON.stringify({ token, role: grant.role, room: grant.room, name: grant.name, expiresAt, links })}\n`);
    return;
  }
  process.stdout.write(
    `Token for ${grant.name} (${grant.role}, room ${grant.room === '*' ? '* (every room)' : grant.room}), expires ${expiresAt}:\n` +
      `${token}\n` +
      (links.broadcast ? `\nBroadcast link:\n  ${links.broadcast}\n` : '') +
      `\nWatch link:\n  ${links.watch}\n` +
      (grant.room === '*' ? `\n(An every-room token needs &room=<room> added to the links.)\n` : ''),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`token: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
