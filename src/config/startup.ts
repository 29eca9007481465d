import { prepareStartup, type Startup } from './envFile.js';

// Evaluated for its effect, as the first import of src/main.ts: ES modules run in import
// order, so the command line is parsed and the env file is in process.env before the
// server's modules load. That matters for libraries that read the environment when they
// load: mediasoup reads MEDIASOUP_WORKER_BIN once, at import. Nothing here prints or exits.

export const startup: Startup = prepareStartup(process.argv.slice(2), process.env, process.cwd());
