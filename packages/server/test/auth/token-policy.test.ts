import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../../src/auth/auth.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { type AuthService, startAuthService } from '../helpers/auth-service.js';
import { memoryPglite } from '../helpers/databases.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket } from '../helpers/ws-client.js';

/** Issue 20, finding 8: tokens must expire, live at most JWT_MAX_TTL_S, and failures are limited. */

const push = (url: string, token: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/sync/todo`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ clientId: 'c1', changes: [] }),
  });
const pull = (url: string, token: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/sync/todo/pull?collection=todos`, {
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
const codeOf = async (res: Response) => ((await res.json()) as { error?: { code: string } }).error?.code;

describe('token lifetime', () => {
  let idp: AuthService;
  beforeAll(async () => {
    idp = await startAuthService();
  });
  afterAll(() => idp.close());

  it('refuses a token without exp, or living longer than the cap, with TOKEN_LIFETIME', async () => {
    const auth = createAuth({ jwks: idp.jwksUrl, algorithms: ['EdDSA'], maxTtlSeconds: 3600 });
    const refused = { code: 'TOKEN_LIFETIME', status: 401 };
    await expect(auth.verifyToken(await idp.mint('alice', { expiresIn: null }))).rejects.toMatchObject(
      refused,
    );
    await expect(
      auth.verifyToken(await idp.mint('alice', { expiresIn: null, issuedAt: null })),
    ).rejects.toMatchObject(refused);
    // exp in the year 2500
    const y2500 = Date.UTC(2500, 0, 1) / 1000 - Math.floor(Date.now() / 1000);
    await expect(auth.verifyToken(await idp.mint('alice', { expiresIn: y2500 }))).rejects.toMatchObject(
      refused,
    );
    // exp - iat over the cap, even when little of it is left
    await expect(
      auth.verifyToken(await idp.mint('alice', { issuedAt: -7200, expiresIn: 60 })),
    ).rejects.toMatchObject(refused);
    // an iat in the future does not stretch it: exp in 2500 with iat a minute before
    await expect(
      auth.verifyToken(await idp.mint('alice', { issuedAt: y2500 - 60, expiresIn: y2500 })),
    ).rejects.toMatchObject(refused);
    // no iat: exp - now counts
    await expect(
      auth.verifyToken(await idp.mint('alice', { issuedAt: null, expiresIn: 3700 })),
    ).rejects.toMatchObject(refused);
    // at the cap, and under it, pass
    await expect(auth.verifyToken(await idp.mint('alice', { expiresIn: 3600 }))).resolves.toMatchObject({
      userId: 'alice',
    });
    await expect(
      auth.verifyToken(await idp.mint('bob', { issuedAt: null, expiresIn: 600 })),
    ).resolves.toMatchObject({ userId: 'bob' });
  });

  describe('on a running server (JWT_MAX_TTL_S default: 24 h)', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await startTestServer(await memoryPglite());
    });
    afterAll(() => t.close());

    it('answers 401 TOKEN_LIFETIME on the push fast path, the Hono routes and a WebSocket', async () => {
      for (const token of [
        await t.auth.mint('alice', { expiresIn: null }),
        await t.auth.mint('alice', { expiresIn: 86_400 + 60 }),
        await t.auth.mint('alice', { expiresIn: 10 * 365 * 86_400 }),
      ]) {
        const p = await push(t.url, token);
        expect({ status: p.status, code: await codeOf(p) }).toEqual({ status: 401, code: 'TOKEN_LIFETIME' });
        const q = await pull(t.url, token);
        expect({ status: q.status, code: await codeOf(q) }).toEqual({ status: 401, code: 'TOKEN_LIFETIME' });
        // A WebSocket on a token that never expires would never be closed: refused at auth.
        const ws = await openSocket(t.url);
        ws.send({ type: 'auth', token });
        expect(await ws.next()).toMatchObject({ type: 'error', code: 'TOKEN_LIFETIME' });
        expect((await ws.closed).code).toBe(4001);
      }
      const good = await t.auth.mint('alice', { expiresIn: 86_400 });
      expect((await push(t.url, good)).status).toBe(200);
    });
  });
});

describe('in production', () => {
  it.each(['production', 'Production', ' prod '])(
    'NODE_ENV=%j requires JWT_ISSUER and JWT_AUDIENCE, in one line naming them',
    (nodeEnv) => {
      expect(() => loadConfig({ NODE_ENV: nodeEnv })).toThrow(ConfigError);
      expect(() => loadConfig({ NODE_ENV: nodeEnv })).toThrow(
        /^JWT_ISSUER and JWT_AUDIENCE must be set when NODE_ENV=production/,
      );
      expect(() => loadConfig({ NODE_ENV: nodeEnv, JWT_ISSUER: 'https://auth.mana.how' })).toThrow(
        /^JWT_AUDIENCE must be set/,
      );
      expect(() => loadConfig({ NODE_ENV: nodeEnv, JWT_AUDIENCE: 'https://auth.mana.how' })).toThrow(
        /^JWT_ISSUER must be set/,
      );
      const c = loadConfig({
        NODE_ENV: nodeEnv,
        JWT_ISSUER: 'https://auth.mana.how',
        JWT_AUDIENCE: 'https://auth.mana.how',
      });
      expect(c.jwtIssuer).toBe('https://auth.mana.how');
    },
  );

  describe("accepts Mana's auth service tokens (Better Auth JWT plugin: iss = aud = base URL, 15 min)", () => {
    const BASE = 'https://auth.mana.test';
    let t: TestServer;
    beforeAll(async () => {
      t = await startTestServer(await memoryPglite(), {
        nodeEnv: 'production',
        jwtIssuer: BASE,
        jwtAudience: BASE,
      });
    });
    afterAll(() => t.close());

    it('when JWT_ISSUER and JWT_AUDIENCE name that URL, and no other issuer or audience', async () => {
      const betterAuth = await t.auth.mint('alice', { issuer: BASE, audience: BASE, expiresIn: 15 * 60 });
      expect((await push(t.url, betterAuth)).status).toBe(200);
      expect((await pull(t.url, betterAuth)).status).toBe(200);
      const ws = await openSocket(t.url);
      await ws.auth(betterAuth);
      ws.close();
      for (const token of [
        await t.auth.mint('alice', { issuer: 'https://evil.test', audience: BASE, expiresIn: 900 }),
        await t.auth.mint('alice', { issuer: BASE, audience: 'https://other.test', expiresIn: 900 }),
        await t.auth.mint('alice', { issuer: BASE, expiresIn: 900 }),
      ]) {
        const p = await push(t.url, token);
        expect({ status: p.status, code: await codeOf(p) }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
      }
    });
  });
});

describe('failed verifications per client address (AUTH_FAIL_LIMIT)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(await memoryPglite(), { authFailLimit: 5 });
  });
  afterAll(() => t.close());

  it('answer 429 RATE_LIMITED with Retry-After once an address has failed too often; signed-in clients go on', async () => {
    const good = await t.token('alice');
    expect((await push(t.url, good)).status).toBe(200); // verified once: cached
    const bad = `${good.slice(0, -4)}AAAA`; // signature broken
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const res = i % 2 ? await push(t.url, bad) : await pull(t.url, bad);
      statuses.push(res.status);
      if (res.status === 429) {
        expect(await codeOf(res)).toBe('RATE_LIMITED');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    }
    // 5 verified (and refused), the rest refused before any verification
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(35);
    const metrics = parsePromText(await (await fetch(`${t.url}/metrics`)).text());
    expect(sampleValue(metrics, 'mana_sync_auth_failures_total')).toBe(5);
    expect(sampleValue(metrics, 'mana_sync_auth_limited_total')).toBe(35);
    // A wrong service key or a WebSocket's bad auth message is refused the same way.
    const key = await fetch(`${t.url}/sync/todo/pull?collection=todos`, {
      headers: { 'x-service-key': 'guess', 'x-user-id': 'alice' },
    });
    expect(key.status).toBe(429);
    const ws = await openSocket(t.url);
    ws.send({ type: 'auth', token: bad });
    expect(await ws.next()).toMatchObject({ type: 'error', code: 'RATE_LIMITED' });
    expect((await ws.closed).code).toBe(1013);
    // The token verified before still works from the same address.
    expect((await push(t.url, good)).status).toBe(200);
    expect((await pull(t.url, good)).status).toBe(200);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY is set', async () => {
    const spoofed = await push(t.url, 'not.a.token', { 'x-forwarded-for': '203.0.113.9' });
    expect(spoofed.status).toBe(429); // still 127.0.0.1, which is over its limit
  });
});

describe('behind a proxy (TRUST_PROXY=1)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(await memoryPglite(), { authFailLimit: 3, trustProxy: true });
  });
  afterAll(() => t.close());

  it('counts failures by the last X-Forwarded-For entry, so one client does not lock out the rest', async () => {
    const from = (ip: string) => ({ 'x-forwarded-for': `198.51.100.1, ${ip}` });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await push(t.url, 'bad.to.ken', from('203.0.113.1'))).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect((await push(t.url, 'bad.to.ken', from('203.0.113.2'))).status).toBe(401);
    // A client cannot pick its own address: only the last entry (our proxy's) counts.
    expect((await push(t.url, 'bad.to.ken', { 'x-forwarded-for': '203.0.113.77, 203.0.113.1' })).status).toBe(
      429,
    );
  });
});
