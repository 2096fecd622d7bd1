import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../../src/auth/auth.js';
import { createDevIssuer } from '../../src/auth/dev-issuer.js';
import { createLogger } from '../../src/logger.js';
import { type RunningServer, startServer } from '../../src/server.js';
import { type AuthService, startAuthService } from '../helpers/auth-service.js';

describe('createAuth', () => {
  it('refuses none and HMAC algorithms when made, not on the first request', () => {
    expect(() => createAuth({ jwks: 'http://127.0.0.1:1/jwks', algorithms: ['none'] })).toThrow(
      /not allowed/,
    );
    expect(() => createAuth({ jwks: 'http://127.0.0.1:1/jwks', algorithms: ['HS256'] })).toThrow(
      /not allowed/,
    );
    expect(() => createAuth({ jwks: 'http://127.0.0.1:1/jwks', algorithms: [] })).toThrow();
  });

  describe('against a JWKS with issuer and audience configured', () => {
    let idp: AuthService;
    beforeAll(async () => {
      idp = await startAuthService();
    });
    afterAll(() => idp.close());

    it('accepts the right issuer and audience and refuses others', async () => {
      const auth = createAuth({
        jwks: idp.jwksUrl,
        algorithms: ['EdDSA'],
        issuer: 'mana-auth',
        audience: 'mana-sync',
      });
      const good = await idp.mint('alice', { issuer: 'mana-auth', audience: 'mana-sync' });
      await expect(auth.verifyToken(good)).resolves.toMatchObject({ userId: 'alice', via: 'jwt' });
      await expect(
        auth.verifyToken(await idp.mint('alice', { issuer: 'evil', audience: 'mana-sync' })),
      ).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
      await expect(
        auth.verifyToken(await idp.mint('alice', { issuer: 'mana-auth', audience: 'other' })),
      ).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
      await expect(
        auth.verifyToken(await idp.mint(undefined, { issuer: 'mana-auth', audience: 'mana-sync' })),
      ).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
    });

    it('acts for X-User-Id with the right service key only', async () => {
      const auth = createAuth({ jwks: idp.jwksUrl, algorithms: ['EdDSA'], serviceKey: 's3cret-key' });
      await expect(auth.authenticate({ serviceKey: 's3cret-key', userId: 'bob' })).resolves.toEqual({
        userId: 'bob',
        via: 'service',
      });
      await expect(auth.authenticate({ serviceKey: 's3cret-kex', userId: 'bob' })).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
      await expect(auth.authenticate({ serviceKey: 's3cret-key' })).rejects.toMatchObject({
        code: 'UNAUTHORIZED',
      });
    });
  });
});

describe('dev issuer routes (MANA_SYNC_DEV_AUTH=1)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({
      config: { port: 0, host: '127.0.0.1', devAuth: true, rateLimitPerSecond: 0 },
      inMemory: true,
      logger: createLogger('silent'),
    });
  });
  afterAll(() => server.close());

  it('mints a token at POST /dev/token that the server accepts, and serves its JWKS', async () => {
    const res = await fetch(`${server.url}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ user: 'alice', ttl: 60 }),
    });
    expect(res.status).toBe(200);
    const { token, userId } = (await res.json()) as { token: string; userId: string };
    expect(userId).toBe('alice');
    const pull = await fetch(`${server.url}/sync/todo/pull?collection=todos`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(pull.status).toBe(200);
    const jwks = (await (await fetch(`${server.url}/dev/jwks`)).json()) as {
      keys: Array<Record<string, string>>;
    };
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(jwks.keys[0]!.d).toBeUndefined();
  });

  it('refuses a bad token request with a code', async () => {
    const res = await fetch(`${server.url}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ user: 'a b' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
    // Longer than JWT_MAX_TTL_S (24 h): the server would refuse the token, so it is not minted.
    const long = await fetch(`${server.url}/dev/token`, {
      method: 'POST',
      body: JSON.stringify({ user: 'alice', ttl: 7 * 86_400 }),
    });
    expect(long.status).toBe(400);
    expect(((await long.json()) as { error: { path: string } }).error.path).toBe('ttl');
  });
});

describe('dev auth with JWT_ISSUER and JWT_AUDIENCE set', () => {
  let server: RunningServer;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mana-dev-aud-'));
    server = await startServer({
      config: {
        port: 0,
        host: '127.0.0.1',
        devAuth: true,
        dataDir,
        jwtIssuer: 'mana-auth',
        jwtAudience: 'mana-sync',
        rateLimitPerSecond: 0,
        authFailLimit: 0,
      },
      logger: createLogger('silent'),
    });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const pull = async (token: string) =>
    (
      await fetch(`${server.url}/sync/todo/pull?collection=todos`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).status;

  /** A token signed with the server's own dev key, with the claims given. */
  async function signed(claims: { issuer: string; audience?: string }) {
    const jwk = JSON.parse(readFileSync(join(dataDir, 'dev-jwk.json'), 'utf8')) as JWK;
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid! })
      .setSubject('alice')
      .setIssuer(claims.issuer)
      .setIssuedAt()
      .setExpirationTime('1h');
    if (claims.audience) jwt.setAudience(claims.audience);
    return jwt.sign(await importJWK(jwk, 'EdDSA'));
  }

  it('accepts the dev tokens it mints (POST /dev/token, mana-sync token), which carry both', async () => {
    const res = await fetch(`${server.url}/dev/token`, { method: 'POST', body: '{"user":"alice"}' });
    const { token } = (await res.json()) as { token: string };
    expect(await pull(token)).toBe(200);
    // What `mana-sync token` does, with the same settings and data directory.
    const cli = await createDevIssuer(join(dataDir, 'dev-jwk.json'), {
      issuer: 'mana-auth',
      audience: 'mana-sync',
    });
    expect(await pull(await cli.mint('bob', 60))).toBe(200);
    expect(await pull(await signed({ issuer: 'mana-auth', audience: 'mana-sync' }))).toBe(200);
  });

  it('refuses a dev-key token with another audience, no audience or another issuer', async () => {
    expect(await pull(await signed({ issuer: 'mana-auth', audience: 'other' }))).toBe(401);
    expect(await pull(await signed({ issuer: 'mana-auth' }))).toBe(401);
    expect(await pull(await signed({ issuer: 'mana-sync-dev' }))).toBe(401);
    // A dev token minted without the settings (another configuration) is refused too.
    const plain = await createDevIssuer(join(dataDir, 'dev-jwk.json'));
    expect(await pull(await plain.mint('alice', 60))).toBe(401);
  });
});

describe('without dev auth', () => {
  it('has no /dev routes', async () => {
    const server = await startServer({
      config: { port: 0, host: '127.0.0.1', devAuth: false, jwksUrl: 'http://127.0.0.1:9/jwks' },
      inMemory: true,
      logger: createLogger('silent'),
    });
    try {
      expect((await fetch(`${server.url}/dev/token`, { method: 'POST' })).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
