import { describe, expect, it } from 'vitest';
import { ConfigError, jwksUrlOf, loadConfig } from '../src/config.js';

describe('config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3050);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toMatch(/\.mana-sync\/data$/);
    expect(jwksUrlOf(c)).toBe('http://localhost:3001/api/auth/jwks');
    expect(c.corsOrigins).toEqual(['http://localhost:5173']);
    expect(c.devAuth).toBe(false);
    expect(c.jwtAlgorithms).toEqual(['EdDSA']);
    expect(c.httpHeadersTimeoutMs).toBe(10_000);
    expect(c.httpRequestTimeoutMs).toBe(30_000);
    expect(c.maxConnections).toBe(10_000);
    expect(c.maxConnectionsPerAddress).toBe(256);
    expect(c.trustProxy).toBe(false);
  });

  it('derives the JWKS URL from MANA_AUTH_URL unless JWKS_URL is set', () => {
    expect(jwksUrlOf(loadConfig({ MANA_AUTH_URL: 'https://auth.mana.how/' }))).toBe(
      'https://auth.mana.how/api/auth/jwks',
    );
    expect(jwksUrlOf(loadConfig({ JWKS_URL: 'https://x.test/keys' }))).toBe('https://x.test/keys');
  });

  it.each([
    [{ PORT: '70000' }, /PORT/],
    [{ DATABASE_URL: 'not a url' }, /DATABASE_URL/],
    [{ MANA_AUTH_URL: 'ftp://x' }, /MANA_AUTH_URL/],
    [{ JWT_ALGORITHMS: 'HS256' }, /JWT_ALGORITHMS/],
    [{ JWT_ALGORITHMS: 'none' }, /JWT_ALGORITHMS/],
    [{ MANA_SYNC_DEV_AUTH: 'maybe' }, /MANA_SYNC_DEV_AUTH/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ MANA_SYNC_DEV_AUTH: '1', NODE_ENV: 'production' }, /production/],
    [{ HTTP_HEADERS_TIMEOUT_MS: '40000' }, /HTTP_HEADERS_TIMEOUT_MS.*HTTP_REQUEST_TIMEOUT_MS/],
    [{ MAX_CONNECTIONS: '0' }, /MAX_CONNECTIONS/],
    [{ TRUST_PROXY: 'sometimes' }, /TRUST_PROXY/],
    [{ MANA_SYNC_DEV_AUTH: 'maybe' }, /MANA_SYNC_DEV_AUTH/],
    [{ MANA_SYNC_DEV_AUTH_UNSAFE: 'sure' }, /MANA_SYNC_DEV_AUTH_UNSAFE/],
  ])('refuses %o with one line naming the variable', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(pattern);
  });
});

describe('dev auth fails closed', () => {
  it('listens on loopback only, unless HOST is set explicitly', () => {
    expect(loadConfig({ MANA_SYNC_DEV_AUTH: '1' }).host).toBe('127.0.0.1');
    expect(loadConfig({ MANA_SYNC_DEV_AUTH: '1', HOST: '' }).host).toBe('127.0.0.1');
    expect(loadConfig({ MANA_SYNC_DEV_AUTH: '1', HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({}).host).toBe('0.0.0.0'); // without dev auth: every interface, as before
  });

  it.each(['production', 'Production', 'PRODUCTION', 'prod', ' production ', 'Prod\n'])(
    'is refused with NODE_ENV=%j, even with MANA_SYNC_DEV_AUTH_UNSAFE=1',
    (nodeEnv) => {
      for (const env of [
        { MANA_SYNC_DEV_AUTH: '1', NODE_ENV: nodeEnv },
        { MANA_SYNC_DEV_AUTH: '1', NODE_ENV: nodeEnv, MANA_SYNC_DEV_AUTH_UNSAFE: '1' },
      ]) {
        expect(() => loadConfig(env)).toThrow(ConfigError);
        expect(() => loadConfig(env)).toThrow(/^MANA_SYNC_DEV_AUTH=1 is refused when NODE_ENV=production/);
      }
    },
  );

  it.each([
    'postgresql://mana:pw@db.internal:5432/mana_sync',
    'postgresql://mana@10.0.0.5/mana_sync',
    'postgres://mana@[2001:db8::1]:5432/x',
    'postgresql://mana@localhost/x?host=db.example.com',
    'postgresql://mana@127.0.0.1.nip.io/x',
  ])('is refused with DATABASE_URL=%s unless MANA_SYNC_DEV_AUTH_UNSAFE=1', (databaseUrl) => {
    const env = { MANA_SYNC_DEV_AUTH: '1', DATABASE_URL: databaseUrl };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(
      /^MANA_SYNC_DEV_AUTH=1 is refused with a DATABASE_URL off loopback \(host "[^"]+"\); set MANA_SYNC_DEV_AUTH_UNSAFE=1/,
    );
    expect(loadConfig({ ...env, MANA_SYNC_DEV_AUTH_UNSAFE: '1' }).devAuth).toBe(true);
    expect(loadConfig({ DATABASE_URL: databaseUrl }).databaseUrl).toBe(databaseUrl); // no dev auth: fine
  });

  it.each([
    'postgresql://postgres@127.0.0.1:5432/mana_sync_test',
    'postgresql://postgres@127.1.2.3/x',
    'postgresql://postgres@localhost/x',
    'postgresql://postgres@[::1]:5432/x',
    'postgresql:///mana_sync',
    'postgresql:///x?host=/var/run/postgresql',
    'postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/x',
  ])('is allowed with DATABASE_URL=%s (loopback or a unix socket)', (databaseUrl) => {
    expect(loadConfig({ MANA_SYNC_DEV_AUTH: '1', DATABASE_URL: databaseUrl }).devAuth).toBe(true);
  });
});
