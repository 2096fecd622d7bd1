import { resolve } from 'node:path';

/**
 * Every setting, declared once: env name, default, parser and description. `loadConfig`
 * reads them at start-up and stops with one line naming the variable when a value is bad;
 * `mana-sync --help` prints this table.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Parser<T> = (raw: string, name: string) => T;

const int =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };

const url: Parser<string> = (raw, name) => {
  try {
    const u = new URL(raw);
    if (!/^(https?|postgres(ql)?):$/.test(u.protocol)) throw new Error();
    return raw;
  } catch {
    throw new ConfigError(`${name} must be a URL (http, https or postgresql), got "${raw}"`);
  }
};

const optionalUrl: Parser<string | undefined> = (raw, name) => (raw === '' ? undefined : url(raw, name));
const optionalString: Parser<string | undefined> = (raw) => (raw === '' ? undefined : raw);
const path: Parser<string> = (raw) => resolve(raw || '.');
const bool: Parser<boolean> = (raw, name) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off|)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be 1 or 0, got "${raw}"`);
};
const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const algorithms: Parser<string[]> = (raw, name) => {
  const algs = list(raw, name);
  for (const alg of algs) {
    if (
      alg === 'none' ||
      /^HS/i.test(alg) ||
      !/^(EdDSA|Ed25519|ES(256|384|512)|RS(256|384|512)|PS(256|384|512))$/.test(alg)
    ) {
      throw new ConfigError(`${name}: "${alg}" is not an allowed asymmetric JWT algorithm`);
    }
  }
  if (algs.length === 0) throw new ConfigError(`${name} must name at least one algorithm`);
  return algs;
};
const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, name) => {
    if (!(values as string[]).includes(raw)) {
      throw new ConfigError(`${name} must be one of ${values.join(', ')}; got "${raw}"`);
    }
    return raw as T;
  };
/** A plain SQL identifier (schema or channel name): no quoting needed, at most `max` characters. */
const identifier =
  (max: number): Parser<string> =>
  (raw, name) => {
    if (!new RegExp(`^[a-z_][a-z0-9_]{0,${max - 1}}$`).test(raw)) {
      throw new ConfigError(
        `${name} must be lower-case letters, digits and "_" (at most ${max}, not starting with a digit), got "${raw}"`,
      );
    }
    return raw;
  };
const optionalIdentifier =
  (max: number): Parser<string | undefined> =>
  (raw, name) =>
    raw === '' ? undefined : identifier(max)(raw, name);
const logLevel: Parser<string> = (raw, name) => {
  if (!/^(fatal|error|warn|info|debug|trace|silent)$/.test(raw)) {
    throw new ConfigError(
      `${name} must be one of fatal, error, warn, info, debug, trace, silent; got "${raw}"`,
    );
  }
  return raw;
};

interface Setting<T> {
  env: string;
  default: string;
  parse: Parser<T>;
  description: string;
}

const setting = <T>(env: string, def: string, parse: Parser<T>, description: string): Setting<T> => ({
  env,
  default: def,
  parse,
  description,
});

export const SETTINGS = {
  port: setting('PORT', '3050', int(0, 65535), 'HTTP and WebSocket port (0: any free port)'),
  host: setting(
    'HOST',
    '',
    optionalString,
    'Address to listen on; unset: 0.0.0.0, or 127.0.0.1 with dev auth',
  ),
  databaseUrl: setting(
    'DATABASE_URL',
    '',
    optionalUrl,
    'PostgreSQL URL; unset: embedded PGlite in MANA_SYNC_DATA_DIR',
  ),
  databaseSchema: setting(
    'DATABASE_SCHEMA',
    '',
    optionalIdentifier(48),
    'PostgreSQL schema (search_path) of the tables; unset: the default',
  ),
  dataDir: setting('MANA_SYNC_DATA_DIR', './.mana-sync/data', path, 'Embedded database directory'),
  authUrl: setting(
    'MANA_AUTH_URL',
    'http://localhost:3001',
    url,
    'Mana auth service; JWKS at /api/auth/jwks',
  ),
  jwksUrl: setting('JWKS_URL', '', optionalUrl, 'Explicit JWKS URL (overrides MANA_AUTH_URL)'),
  jwtIssuer: setting(
    'JWT_ISSUER',
    '',
    optionalString,
    'Required JWT issuer (iss), checked when set; required in production',
  ),
  jwtAudience: setting(
    'JWT_AUDIENCE',
    '',
    optionalString,
    'Required JWT audience (aud), checked when set; required in production',
  ),
  jwtMaxTtlS: setting(
    'JWT_MAX_TTL_S',
    '86400',
    int(60, 31_536_000),
    'Longest token lifetime (exp - iat) accepted; tokens without exp are refused',
  ),
  authFailLimit: setting(
    'AUTH_FAIL_LIMIT',
    '60',
    int(0, 1_000_000),
    'Failed token/service-key checks per minute per client address, then 429 (0: off)',
  ),
  trustProxy: setting(
    'TRUST_PROXY',
    '0',
    bool,
    '1: behind a proxy; the client address is the last X-Forwarded-For entry',
  ),
  jwtAlgorithms: setting('JWT_ALGORITHMS', 'EdDSA', algorithms, 'Accepted asymmetric JWT algorithms'),
  serviceKey: setting(
    'MANA_SERVICE_KEY',
    '',
    optionalString,
    'Shared secret for trusted Mana backends; unset: off',
  ),
  corsOrigins: setting(
    'CORS_ORIGINS',
    'http://localhost:5173',
    list,
    'Comma-separated allowed browser origins; in production none unless set',
  ),
  devAuth: setting('MANA_SYNC_DEV_AUTH', '0', bool, '1: built-in dev token issuer (never in production)'),
  devAuthUnsafe: setting(
    'MANA_SYNC_DEV_AUTH_UNSAFE',
    '0',
    bool,
    '1: allow dev auth with a DATABASE_URL off loopback',
  ),
  maxClockSkewMs: setting(
    'MAX_CLOCK_SKEW_MS',
    '60000',
    int(0, 86_400_000),
    'Field timestamps further ahead are clamped',
  ),
  rateLimitPerSecond: setting(
    'RATE_LIMIT_RPS',
    '200',
    int(0, 1_000_000),
    'Requests per second per user (0: off)',
  ),
  rateLimitBurst: setting('RATE_LIMIT_BURST', '1000', int(1, 10_000_000), 'Requests a user may send at once'),
  rateLimitRows: setting(
    'RATE_LIMIT_ROWS',
    '10000',
    int(0, 100_000_000),
    'Rows a user may read and write per second, 20 s of them at once; then requests wait (0: off)',
  ),
  rateLimitConcurrency: setting(
    'RATE_LIMIT_CONCURRENCY',
    '2',
    int(0, 10_000),
    "A user's pushes and pulls running at once; more wait in the user's queue (0: no cap)",
  ),
  rateLimitQueue: setting(
    'RATE_LIMIT_QUEUE',
    '256',
    int(0, 100_000),
    "A user's pushes and pulls waiting at once (for a slot or the row budget); one more: 429",
  ),
  rateLimitMaxWaitMs: setting(
    'RATE_LIMIT_MAX_WAIT_MS',
    '5000',
    int(0, 60_000),
    'Longest wait for the row budget; a request that would wait longer: 429 (0: never wait)',
  ),
  pageMaxBytes: setting(
    'PAGE_MAX_BYTES',
    '4194304',
    int(1024, 268_435_456),
    'Byte budget of a pull, push answer or stream page (a larger record goes out alone)',
  ),
  wsAuthTimeoutMs: setting(
    'WS_AUTH_TIMEOUT_MS',
    '10000',
    int(1, 600_000),
    'A WebSocket must send its auth message within this time',
  ),
  wsMaxSocketsPerUser: setting(
    'WS_MAX_SOCKETS_PER_USER',
    '20',
    int(1, 100_000),
    'Open WebSockets one user may have on one instance',
  ),
  wsMaxMessageBytes: setting(
    'WS_MAX_MESSAGE_BYTES',
    '65536',
    int(256, 16_777_216),
    'Largest WebSocket message accepted (larger: close 1009)',
  ),
  wsHeartbeatMs: setting(
    'WS_HEARTBEAT_MS',
    '30000',
    int(10, 3_600_000),
    'WebSocket ping interval; a socket silent for two is dropped',
  ),
  sseHeartbeatMs: setting(
    'SSE_HEARTBEAT_MS',
    '30000',
    int(10, 3_600_000),
    'Heartbeat interval of GET /sync/{appId}/stream',
  ),
  sseMaxStreamsPerUser: setting(
    'SSE_MAX_STREAMS_PER_USER',
    '50',
    int(1, 100_000),
    'Open SSE streams one user may have on one instance',
  ),
  fanout: setting(
    'FANOUT',
    'auto',
    oneOf('auto', 'local', 'postgres'),
    'Cross-instance fan-out: auto = postgres with DATABASE_URL',
  ),
  fanoutChannel: setting(
    'FANOUT_CHANNEL',
    'mana_sync',
    identifier(24),
    'LISTEN/NOTIFY channel (DATABASE_SCHEMA is appended)',
  ),
  fanoutBatchMs: setting(
    'FANOUT_BATCH_MS',
    '2',
    int(0, 1000),
    'Push events collected into one NOTIFY for this long',
  ),
  logLevel: setting('LOG_LEVEL', 'info', logLevel, 'pino log level'),
  logRetentionDays: setting(
    'LOG_RETENTION_DAYS',
    '30',
    int(0, 36_500),
    'mana-sync compact drops change-log rows older than this',
  ),
  httpHeadersTimeoutMs: setting(
    'HTTP_HEADERS_TIMEOUT_MS',
    '10000',
    int(1, 600_000),
    "A request's headers must arrive within this time (else 408, closed)",
  ),
  httpRequestTimeoutMs: setting(
    'HTTP_REQUEST_TIMEOUT_MS',
    '30000',
    int(1, 3_600_000),
    'A whole request must arrive within this time (SSE, WebSockets exempt)',
  ),
  maxConnections: setting(
    'MAX_CONNECTIONS',
    '10000',
    int(1, 1_000_000),
    'Open connections per instance (more: 503); keep below the open-file limit',
  ),
  maxConnectionsPerAddress: setting(
    'MAX_CONNECTIONS_PER_ADDRESS',
    '256',
    int(1, 1_000_000),
    'Open connections per client address (more: 503)',
  ),
  shutdownGraceMs: setting(
    'SHUTDOWN_GRACE_MS',
    '10000',
    int(0, 600_000),
    'On SIGTERM: time in-flight requests get before sockets are cut',
  ),
  metricsMaxApps: setting(
    'METRICS_MAX_APPS',
    '100',
    int(1, 10_000),
    'Distinct app labels in /metrics (only apps with data get one)',
  ),
  metricsNewAppsPerUser: setting(
    'METRICS_NEW_APPS_PER_USER',
    '10',
    int(1, 10_000),
    'App labels one user may introduce (the rest count as _other)',
  ),
  manaApps: setting(
    'MANA_APPS',
    '',
    list,
    'Comma-separated app ids: when set, the only app labels in /metrics',
  ),
  metricsToken: setting(
    'METRICS_TOKEN',
    '',
    optionalString,
    'Bearer token GET /metrics requires; unset: open',
  ),
  nodeEnv: setting(
    'NODE_ENV',
    'development',
    optionalString,
    'production (any case, or prod): no dev auth, JWT_ISSUER/JWT_AUDIENCE required',
  ),
} as const;

export type Config = { [K in keyof typeof SETTINGS]: ReturnType<(typeof SETTINGS)[K]['parse']> };

/** Reads every setting from `env`, overridden by `overrides`. Throws ConfigError on the first bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as Array<[keyof Config, Setting<unknown>]>) {
    if (key in overrides) {
      out[key] = overrides[key];
      continue;
    }
    const raw = env[s.env];
    out[key] = s.parse(raw === undefined ? s.default : raw, s.env);
  }
  // The default origin is a developer's Vite server: in production it would let any page
  // served from someone's localhost:5173 call us with their token. There, only what is set.
  if (isProduction(out as Config) && env.CORS_ORIGINS === undefined && !('corsOrigins' in overrides)) {
    out.corsOrigins = [];
  }
  const config = out as Config;
  if (config.httpHeadersTimeoutMs > config.httpRequestTimeoutMs) {
    throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS must not be longer than HTTP_REQUEST_TIMEOUT_MS');
  }
  if (config.devAuth) checkDevAuth(config);
  if (isProduction(config)) {
    // Without them any token the auth service's key ever signed, for any audience, would do.
    const missing = [config.jwtIssuer ? '' : 'JWT_ISSUER', config.jwtAudience ? '' : 'JWT_AUDIENCE'].filter(
      Boolean,
    );
    if (missing.length > 0) {
      throw new ConfigError(
        `${missing.join(' and ')} must be set when NODE_ENV=production (Mana's auth service: its base URL, e.g. https://auth.mana.how)`,
      );
    }
  }
  // Dev auth listens on loopback only, unless HOST says otherwise: its /dev/token mints a
  // token for any user, so anyone who can reach the port could act as anyone.
  return { ...config, host: config.host ?? (config.devAuth ? '127.0.0.1' : '0.0.0.0') };
}

/**
 * NODE_ENV as production, however it is spelled: `Production`, `PRODUCTION`, `prod` and
 * `" production "` all mean it, so none of them turns production's checks off.
 */
export function isProduction(config: Pick<Config, 'nodeEnv'>): boolean {
  return /^prod(uction)?$/.test((config.nodeEnv ?? '').trim().toLowerCase());
}

/**
 * Dev auth fails closed: never in production, and never against a database off this machine
 * (a shared or real one) unless MANA_SYNC_DEV_AUTH_UNSAFE=1 says so on purpose.
 */
function checkDevAuth(config: Config): void {
  if (isProduction(config)) {
    throw new ConfigError(
      `MANA_SYNC_DEV_AUTH=1 is refused when NODE_ENV=production (NODE_ENV="${config.nodeEnv}")`,
    );
  }
  if (config.devAuthUnsafe || !config.databaseUrl) return;
  const remote = databaseHosts(config.databaseUrl).find((h) => !isLoopbackHost(h));
  if (remote !== undefined) {
    throw new ConfigError(
      `MANA_SYNC_DEV_AUTH=1 is refused with a DATABASE_URL off loopback (host "${remote}"); set MANA_SYNC_DEV_AUTH_UNSAFE=1 to allow it`,
    );
  }
}

/**
 * The hosts a PostgreSQL URL connects to: its `host` query parameter when given (libpq lets
 * it override the authority), else the authority's host list; '' is libpq's default, the
 * local unix socket.
 */
function databaseHosts(databaseUrl: string): string[] {
  const u = new URL(databaseUrl);
  const hosts = u.searchParams.get('host') ?? decodeURIComponent(u.hostname);
  return hosts.split(',').map((raw) => {
    const h = raw.trim();
    if (h.startsWith('[')) return h.slice(1, h.indexOf(']')); // [::1]:5432
    return /^[^:]*:\d+$/.test(h) ? h.slice(0, h.lastIndexOf(':')) : h; // host:5432, not ::1
  });
}

/** localhost, 127.0.0.0/8, ::1, or a unix socket (a path, or no host at all). */
function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return (
    h === '' ||
    h.startsWith('/') ||
    h === 'localhost' ||
    h === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

export function jwksUrlOf(config: Config): string {
  return config.jwksUrl ?? `${config.authUrl.replace(/\/+$/, '')}/api/auth/jwks`;
}

/** The settings as a table, for `--help` and README. */
export function settingsTable(): string {
  const rows = Object.values(SETTINGS).map(
    (s) => `  ${s.env.padEnd(20)} ${`[${s.default}]`.padEnd(26)} ${s.description}`,
  );
  return rows.join('\n');
}
