import { destination, pino, stdTimeFunctions, type Logger } from 'pino';

/** Structured logger used by every long-running Cleave command: one JSON object per line on stdout. */
export type CleaveLogger = Logger;

/** Creates the JSON-lines logger. Progress bars go to stderr, so stdout stays machine-parsable. */
export function createLogger(options: { level?: string } = {}): CleaveLogger {
  return pino(
    { level: options.level ?? 'info', base: { app: 'cleave' }, timestamp: stdTimeFunctions.isoTime },
    // Synchronous so the last lines before process.exit() are never lost.
    destination({ dest: 1, sync: true }),
  );
}
