import cluster from 'node:cluster';
import type { App } from './app.js';
import { ConfigError, loadConfig, type Config } from './config/index.js';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

if (config.workers > 1 && cluster.isPrimary) {
  // The primary forks the workers (this same script) and serves nothing: it loads no more.
  const [{ Primary }, { createLogger }] = await Promise.all([import('./server/cluster.js'), import('./observability/logger.js')]);
  new Primary(config, createLogger(config.logLevel)).start();
} else {
  await serve(config, cluster.worker?.id);
}

/** Today's server: one process, or one cluster worker (`worker`: its id). */
async function serve(config: Config, worker: number | undefined): Promise<void> {
  let app: App | undefined;
  let stopping: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals, server: App): void => {
    server.logger.info({ signal }, 'shutting down');
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        server.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // Before the app is built: a worker can get the primary's SIGTERM while it starts (and
  // it listens before start() resolves), which must drain it, not kill it.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) {
        // A second signal forces the exit; a worker gets two at once from Ctrl-C (the
        // terminal's SIGINT and the primary's SIGTERM), and the primary forces it instead.
        if (worker === undefined) process.exit(1);
        return;
      }
      stopping = signal;
      if (app) stop(signal, app);
    });
  }

  const { buildApp } = await import('./app.js');
  try {
    app = await buildApp(config, { worker });
    if (stopping) {
      stop(stopping, app);
      return;
    }
    await app.start();
  } catch (error) {
    // A manifest (TRUSTED_DOCUMENTS_FILE) that cannot be used is reported as the variables are.
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    // One line, no stack: a taken port or an unreachable database is an operator's fix.
    const reason = error instanceof Error ? error.message : String(error);
    process.stdout.write(`${JSON.stringify({ level: 60, time: Date.now(), ...(worker === undefined ? {} : { worker }), msg: `could not start: ${reason}` })}\n`);
    process.exit(1);
  }
}
