import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../../src/auth/auth.js';
import { type AuthService, startAuthService } from '../helpers/auth-service.js';

/** Verified tokens are cached by their string; the cache must never stretch a token's life. */
describe('token verification cache', () => {
  let idp: AuthService;
  let lookups = 0;
  let getKey: JWTVerifyGetKey;
  beforeAll(async () => {
    idp = await startAuthService();
    const local = createLocalJWKSet({ keys: [idp.publicJwk] });
    getKey = (header, token) => {
      lookups++;
      return local(header, token);
    };
  });
  afterAll(() => idp.close());

  const setup = (cacheTtlMs?: number) => {
    let clock = Date.now();
    const auth = createAuth({
      jwks: getKey,
      algorithms: ['EdDSA'],
      now: () => clock,
      ...(cacheTtlMs !== undefined ? { cacheTtlMs } : {}),
    });
    return { auth, advance: (ms: number) => (clock += ms) };
  };

  it('verifies a token once, then answers from the cache', async () => {
    const { auth } = setup();
    const token = await idp.mint('alice', { expiresIn: 3600 });
    const before = lookups;
    await expect(auth.verifyToken(token)).resolves.toMatchObject({ userId: 'alice' });
    await expect(auth.verifyToken(token)).resolves.toMatchObject({ userId: 'alice' });
    expect(lookups - before).toBe(1);
  });

  it('refuses a cached token once it has expired', async () => {
    const { auth, advance } = setup(600_000);
    const token = await idp.mint('bob', { expiresIn: 30 });
    await expect(auth.verifyToken(token)).resolves.toMatchObject({ userId: 'bob' });
    advance(31_000);
    await expect(auth.verifyToken(token)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
  });

  it('verifies again after the cache TTL', async () => {
    const { auth, advance } = setup(1000);
    const token = await idp.mint('carol', { expiresIn: 3600 });
    const before = lookups;
    await auth.verifyToken(token);
    advance(1001);
    await auth.verifyToken(token);
    expect(lookups - before).toBe(2);
  });

  it('does not cache a failure, nor accept a token that differs by one character', async () => {
    const { auth } = setup();
    const token = await idp.mint('dave', { expiresIn: 3600 });
    await auth.verifyToken(token);
    const tampered = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`;
    await expect(auth.verifyToken(tampered)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(auth.verifyToken(tampered)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('answers at once for a verified token, and never for an unverified, expired or malformed one', async () => {
    const { auth, advance } = setup(600_000);
    const token = await idp.mint('erin', { expiresIn: 30 });
    expect(auth.cached(`Bearer ${token}`)).toBeUndefined();
    await auth.authenticate({ authorization: `Bearer ${token}` });
    expect(auth.cached(`Bearer ${token}`)).toMatchObject({ userId: 'erin', via: 'jwt' });
    expect(auth.cached(`bearer   ${token} `)).toMatchObject({ userId: 'erin' });
    expect(auth.cached(`Bearer ${token}x`)).toBeUndefined();
    expect(auth.cached(token)).toBeUndefined();
    expect(auth.cached(undefined)).toBeUndefined();
    advance(31_000);
    expect(auth.cached(`Bearer ${token}`)).toBeUndefined();
  });

  it('remembers the last token of a connection only for that exact header, and only until it expires', async () => {
    const { auth, advance } = setup(600_000);
    const socket = {};
    const frank = await idp.mint('frank', { expiresIn: 30 });
    const grace = await idp.mint('grace', { expiresIn: 3600 });
    await auth.authenticate({ authorization: `Bearer ${frank}` });
    expect(auth.cached(`Bearer ${frank}`, socket)).toMatchObject({ userId: 'frank' });
    expect(auth.cached(`Bearer ${frank}`, socket)).toMatchObject({ userId: 'frank' });
    // Another user on the same connection (a proxy): not frank's answer.
    expect(auth.cached(`Bearer ${grace}`, socket)).toBeUndefined();
    await auth.authenticate({ authorization: `Bearer ${grace}` });
    expect(auth.cached(`Bearer ${grace}`, socket)).toMatchObject({ userId: 'grace' });
    expect(auth.cached(`Bearer ${frank}x`, socket)).toBeUndefined();
    expect(auth.cached(`Bearer ${frank}`, socket)).toMatchObject({ userId: 'frank' });
    advance(31_000);
    expect(auth.cached(`Bearer ${frank}`, socket)).toBeUndefined();
    expect(auth.cached(`Bearer ${grace}`, socket)).toMatchObject({ userId: 'grace' });
  });
});
