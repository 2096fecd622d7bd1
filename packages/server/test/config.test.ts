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
  ])('refuses %o with one line naming the variable', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(pattern);
  });
});
