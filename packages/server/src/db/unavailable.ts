/**
 * The one list of "the database is not there right now", for both drivers. Two degrees:
 *
 * - `connection-lost`: the connection itself is gone or never came (postgres.js codes, socket
 *   errors, SQLSTATE class 08, 57P0x shutdowns). The PostgreSQL pool is replaced after one
 *   (db/postgres.ts): postgres.js can leave such a connection unable to send again.
 * - `busy`: the database is there but cannot serve this statement now (serialization failure,
 *   deadlock, lock or statement timeout, class 53 insufficient resources, name resolution).
 *
 * Both are outages to the client: 503 DB_UNAVAILABLE, retried (sync/errors.ts), and counted
 * as `unavailable` in mana_sync_db_errors_total (metrics.ts); anything else is a bug (500).
 */
type Outage = 'connection-lost' | 'busy';

const CONNECTION_LOST = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
]);

const BUSY = new Set([
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '40001', // serialization failure
  '40P01', // deadlock detected
  '55P03', // lock not available
  '57014', // query canceled (statement timeout)
]);

/**
 * PGlite closed under a request, or a driver that says so only in words: an outage, but not
 * taken as a reason to replace the PostgreSQL pool (no code to be sure by).
 */
const LOST_MESSAGE = /PGlite is closed|connection (terminated|ended)|write after end/i;

/** Which outage `err` is, or undefined when it is not one (a bug, a constraint, bad input). */
export function outageOf(err: unknown): Outage | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return undefined;
  const code = typeof e.code === 'string' ? e.code : '';
  // 08: connection exception; 57P01-57P05: admin/crash shutdown, cannot connect now, …
  if (CONNECTION_LOST.has(code) || code.startsWith('08') || code.startsWith('57P0')) return 'connection-lost';
  if (BUSY.has(code) || code.startsWith('53')) return 'busy';
  if (typeof e.message === 'string' && LOST_MESSAGE.test(e.message)) return 'busy';
  return undefined;
}

/** Whether `err` means the database is unavailable (an outage, not a bug): 503, retried. */
export function isDbUnavailable(err: unknown): boolean {
  return outageOf(err) !== undefined;
}
