// First on purpose: parses the command line and reads the env file into process.env
// before the modules below load (mediasoup reads MEDIASOUP_WORKER_BIN when it loads).
import { startup } from './config/startup.js';
import { ConfigError, loadConfig } from './config/index.js';
import { helpText, usage } from './config/docs.js';
import { createLogger } from './log.js';
import { startFourcast } from './server.js';
import { UwsNativeMissingError } from './signaling/uws.js';
import { WorkerUnavailableError } from './media/workerPool.js';
import { BuildError } from './build/info.js';
import { TlsError } from './tls.js';

// Exit codes: 78 = configuration error (EX_CONFIG), 69 = a part is unavailable (EX_UNAVAILABLE):
// the uWS native binary, the mediasoup worker, or the built web client; 64 = bad command line
// (EX_USAGE). `--help` lists them with every variable.
async function main(): Promise<void> {
  const { command } = startup;
  if (command.kind === 'help') {
    process.stdout.write(helpText());
    process.exitCode = 0;
    return; // nothing was started: the process ends by itself
  }
  if (command.kind === 'usage-error') {
    process.stderr.write(`fourcast: ${command.message}\n\n${usage()}Run with --help for every configuration variable.\n`);
    process.exitCode = 64;
    return;
  }
  let config;
  try {
    if (startup.error) throw startup.error;
    config = loadConfig(process.env, undefined, { sources: startup.sources });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fourcast: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const log = createLogger(config.log);
  if (startup.envFile) {
    const { file, applied, overridden } = startup.envFile;
    log.info({ file, applied, overridden }, `read ${applied.length} variable(s) from ${file}` + (overridden.length ? `; the environment overrides ${overridden.join(', ')}` : ''));
  }
  let node;
  try {
    node = await startFourcast(config, log);
  } catch (err) {
    if (err instanceof TlsError) {
      log.fatal(err.message);
      await new Promise((r) => setTimeout(r, 100));
      process.exit(78);
    }
    if (err instanceof UwsNativeMissingError || err instanceof WorkerUnavailableError || err instanceof BuildError) {
      log.fatal(err.message);
      await new Promise((r) => setTimeout(r, 100)); // let the log transport flush
      process.exit(69);
    }
    throw err;
  }

  const room = config.defaultRoom;
  // A broadcaster link is a credential: stdout ends up in journals and log shippers. Printed
  // for development (or PRINT_LINKS=true); production gets how to mint one instead.
  const broadcasterLines = config.printLinks
    ? `  Broadcaster link (token valid 12 h):\n    ${node.urls.http}/broadcast.html?room=${encodeURIComponent(room)}&token=${await node.tokens.mint({ role: 'publisher', room, name: 'Broadcaster', ttlSeconds: 12 * 3600 })}\n`
    : `  Broadcaster link: not printed (PRINT_LINKS). Mint one with\n    npm run token -- --role publisher --room ${room}\n` +
      (config.auth.adminToken ? `  or POST ${node.urls.http}/admin/tokens with the admin token.\n` : '');
  const watch = `${node.urls.http}/watch.html?room=${encodeURIComponent(room)}`;
  // Without PUBLIC_URL the links say localhost; viewers elsewhere on the network need the
  // host's address (watching needs no secure context; broadcasting from elsewhere needs HTTPS).
  const lanHost = node.media.detected ? node.media.announced.find((a) => a !== '127.0.0.1' && a !== '::1') : undefined;
  const lanWatch =
    !config.http.publicUrl && lanHost && config.http.host !== '127.0.0.1' && config.http.host !== '::1'
      ? `${node.urls.http.replace('localhost', lanHost.includes(':') ? `[${lanHost}]` : lanHost)}/watch.html?room=${encodeURIComponent(room)}`
      : undefined;
  const ports = `${config.media.portBase}${config.media.workers > 1 ? `-${config.media.portBase + config.media.workers - 1}` : ''}`;
  log.info({ http: node.urls.http, ws: node.urls.ws, workers: config.media.workers, media: node.media.announced }, 'Fourcast is up');
  process.stdout.write(
    `\n  Fourcast is live.\n` +
      broadcasterLines +
      `  Viewer link:\n    ${watch}\n` +
      (lanWatch ? `  Viewer link for other machines on this network:\n    ${lanWatch}\n` : '') +
      `  Media (WebRTC) at ${node.media.announced.join(', ')}, UDP+TCP port ${ports}` +
      (node.media.detected ? ` (detected; set RTC_ANNOUNCED_ADDRESS to the address browsers elsewhere reach, e.g. a public IP)\n` : '\n') +
      (config.auth.tokenSecretGenerated ? `  (TOKEN_SECRET not set: a random one was generated, links die with this process.)\n` : '') +
      '\n',
  );

  // First signal drains (no new joins, clients told, grace period); a second one closes at once.
  let stopping = false;
  const shutdownFailed = (err: unknown) => {
    log.error({ err }, 'shutdown failed');
    process.exit(1);
  };
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: closing now');
      void node.close().then(() => node.pool.exited(2_000)).then(() => process.exit(0), shutdownFailed);
      return;
    }
    stopping = true;
    log.info({ signal, graceMs: config.drainGraceMs }, 'draining before shutdown');
    // Backstop: a close that hangs (a stuck request, a worker that does not exit) must not keep the node up.
    setTimeout(() => shutdownFailed(new Error('shutdown did not finish within 10 s after the grace period')), config.drainGraceMs + 10_000).unref();
    void node
      .drain()
      .then(() => node.close())
      .then(() => node.pool.exited(2_000)) // workers end when their channel closes: exit after them, leaving none behind
      .then(() => process.exit(0), shutdownFailed);
  };
  // SIGHUP re-reads the TLS certificate and key (certbot's deploy hook: systemctl reload).
  process.on('SIGHUP', () => {
    if (!config.tls) return log.info('SIGHUP: no built-in TLS to reload');
    try {
      node.reloadTls();
    } catch (err) {
      log.error({ err }, 'TLS reload failed; still serving the previous certificate');
    }
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fourcast: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
