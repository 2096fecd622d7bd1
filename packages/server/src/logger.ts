import { createRequire } from 'node:module';
import pino from 'pino';
import type PinoPretty from 'pino-pretty';
import { isProduction } from './config.js';

// pino-pretty is loaded only for a terminal (a synchronous require, as createLogger is
// synchronous): a service writing JSON never pays for loading it at start.
const require = createRequire(import.meta.url);

export type Logger = pino.Logger;

interface LoggerOptions {
  /** Human-readable lines instead of JSON (a developer's terminal). */
  pretty?: boolean;
  /** Where lines go; default stdout. Tests pass a stream to read them. */
  destination?: pino.DestinationStream;
}

/**
 * JSON lines to stdout. Never log tokens or record contents: the request line carries ids,
 * route, status and timing only, and the header paths below are removed if anyone logs them.
 */
export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'mana-sync' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-service-key"]', 'token', 'serviceKey'],
      remove: true,
    },
  };
  // pino-pretty as an in-process stream (no worker thread): only for a developer at a terminal.
  const pretty = opts.pretty ? (require('pino-pretty') as typeof PinoPretty) : undefined;
  const destination = opts.destination ?? pretty?.({ colorize: true, sync: true });
  return destination ? pino(options, destination) : pino(options);
}

/** Pretty output when a person is watching: stdout is a terminal and this is not production. */
export function wantsPrettyLogs(nodeEnv: string | undefined): boolean {
  return Boolean(process.stdout.isTTY) && !isProduction({ nodeEnv });
}
