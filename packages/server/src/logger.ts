import pino from 'pino';

export type Logger = pino.Logger;

/** JSON lines to stdout. Never log tokens or record contents. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'mana-sync' },
    redact: { paths: ['req.headers.authorization', 'req.headers["x-service-key"]', 'token'], remove: true },
  });
}
