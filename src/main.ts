import { buildApp, type App } from './app.js';
import { ConfigError, loadConfig } from './config/index.js';

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

let app: App;
try {
  app = await buildApp(config);
  await app.start();
} catch (error) {
  // A manifest (TRUSTED_DOCUMENTS_FILE) that cannot be used is reported as the variables are.
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  // One line, no stack: a taken port or an unreachable database is an operator's fix.
  const reason = error instanceof Error ? error.message : String(error);
  process.stdout.write(`${JSON.stringify({ level: 60, time: Date.now(), msg: `could not start: ${reason}` })}\n`);
  process.exit(1);
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
