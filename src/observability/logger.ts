import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

/**
 * JSON lines on stdout. `redact` is a second line of defence: no code path logs the key,
 * but a future `logger.info({ headers })` must not be the one that does.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['apiKey', '*.apiKey', 'headers.authorization', '*.headers.authorization', 'authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
