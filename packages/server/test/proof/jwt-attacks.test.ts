import { createPublicKey } from 'node:crypto';
import { base64url, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../../src/auth/auth.js';
import { startAuthService } from '../helpers/auth-service.js';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { report } from './proof-runs.js';

/**
 * Forged, stale and malformed tokens. Each must be refused with 401 and a code (or 503
 * AUTH_UNAVAILABLE when the key set cannot be fetched), never served, never a 500.
 */

const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
const now = () => Math.floor(Date.now() / 1000);
let attacks = 0;

async function pushWith(ts: TestServer, authorization: string | null) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== null) headers.authorization = authorization;
  return fetch(`${ts.url}/sync/todo`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ clientId: 'c1', changes: [] }),
  });
}

async function expectRefused(ts: TestServer, token: string, code = 'UNAUTHORIZED', status = 401) {
  attacks++;
  const res = await pushWith(ts, `Bearer ${token}`);
  const body = (await res.json()) as { error?: { code?: string } };
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
}

describe('JWT attack suite', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer(await memoryPglite());
  });
  afterAll(async () => {
    await ts?.close();
    report('jwt-attacks', { attacks });
  });

  it('accepts a genuine token (the control)', async () => {
    const res = await pushWith(ts, `Bearer ${await ts.auth.mint('alice')}`);
    expect(res.status).toBe(200);
  });

  it('refuses alg "none" in every spelling', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const token = `${enc({ alg, typ: 'JWT' })}.${enc({ sub: 'alice', exp: now() + 3600 })}.`;
      await expectRefused(ts, token);
      await expectRefused(ts, `${token}${base64url.encode('x')}`);
    }
  });

  it('refuses HS256 tokens signed with the public key (algorithm confusion)', async () => {
    const jwk = ts.auth.publicJwk;
    const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ format: 'pem', type: 'spki' });
    const secrets = [
      new TextEncoder().encode(JSON.stringify(jwk)),
      base64url.decode(jwk.x!),
      new TextEncoder().encode(String(pem)),
      new TextEncoder().encode(jwk.x!),
    ];
    for (const secret of secrets) {
      for (const alg of ['HS256', 'HS384', 'HS512']) {
        const token = await new SignJWT({})
          .setProtectedHeader({ alg, kid: 'test-key-1' })
          .setSubject('alice')
          .setExpirationTime(now() + 3600)
          .sign(secret);
        await expectRefused(ts, token);
      }
    }
  });

  it('refuses a token signed with another key under the known kid, or an unknown kid', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    for (const kid of ['test-key-1', 'unknown-kid', '', '../../etc/passwd']) {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid })
        .setSubject('alice')
        .setExpirationTime(now() + 3600)
        .sign(privateKey);
      await expectRefused(ts, token);
    }
  });

  it('does not let unknown kids hammer the JWKS endpoint (cooldown)', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const before = ts.auth.hits();
    for (let i = 0; i < 20; i++) {
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: `random-${i}` })
        .setSubject('alice')
        .setExpirationTime(now() + 3600)
        .sign(privateKey);
      await expectRefused(ts, token);
    }
    expect(ts.auth.hits() - before).toBeLessThanOrEqual(1);
  });

  it('refuses a token of another asymmetric algorithm not configured (RS256, ES256)', async () => {
    for (const alg of ['RS256', 'ES256', 'PS256']) {
      const { privateKey } = await generateKeyPair(alg);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg, kid: 'test-key-1' })
        .setSubject('alice')
        .setExpirationTime(now() + 3600)
        .sign(privateKey);
      await expectRefused(ts, token);
    }
  });

  it('refuses expired tokens with TOKEN_EXPIRED and not-yet-valid ones', async () => {
    await expectRefused(ts, await ts.auth.mint('alice', { expiresIn: -1 }), 'TOKEN_EXPIRED');
    await expectRefused(ts, await ts.auth.mint('alice', { expiresIn: -86_400 }), 'TOKEN_EXPIRED');
    await expectRefused(ts, await ts.auth.mint('alice', { notBefore: 3600 }));
  });

  it('refuses a tampered payload or header', async () => {
    const [h, p, s] = (await ts.auth.mint('alice')).split('.') as [string, string, string];
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p))) as Record<string, unknown>;
    await expectRefused(ts, `${h}.${enc({ ...payload, sub: 'bob' })}.${s}`);
    await expectRefused(ts, `${h}.${enc({ ...payload, exp: now() + 10 * 365 * 86_400 })}.${s}`);
    await expectRefused(
      ts,
      `${enc({ alg: 'EdDSA', kid: 'test-key-1', crit: ['x-unknown'], 'x-unknown': 1 })}.${p}.${s}`,
    );
    await expectRefused(ts, `${enc({ alg: 'none' })}.${p}.${s}`);
    // A character in the middle: every bit of it is signature (the last one has padding bits).
    const flipped = s.slice(0, 20) + (s[20] === 'A' ? 'B' : 'A') + s.slice(21);
    await expectRefused(ts, `${h}.${p}.${flipped}`);
  });

  it('refuses tokens without a usable subject', async () => {
    await expectRefused(ts, await ts.auth.mint(undefined));
    await expectRefused(ts, await ts.auth.mint(''));
    await expectRefused(ts, await ts.auth.mint('a\u0000b'));
    await expectRefused(ts, await ts.auth.mint('x'.repeat(300)));
    await expectRefused(ts, await ts.auth.mint(undefined, { claims: { sub: 42 } }));
    await expectRefused(ts, await ts.auth.mint(undefined, { claims: { sub: ['alice'] } }));
  });

  it('refuses malformed Authorization headers and tokens outside the header', async () => {
    const good = await ts.auth.mint('alice');
    for (const auth of [
      null,
      '',
      'Bearer',
      'Bearer ',
      'Basic YWxpY2U6eA==',
      `Token ${good}`,
      'Bearer a.b.c',
      'Bearer ...',
      `Bearer ${good}.extra`,
      `Bearer ${'x'.repeat(8000)}`,
    ]) {
      attacks++;
      const res = await pushWith(ts, auth);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    }
    attacks++;
    const res = await fetch(`${ts.url}/sync/todo/pull?collection=tasks&token=${good}&access_token=${good}`);
    expect(res.status).toBe(401);
  });
});

describe('JWT issuer and audience, when configured', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer(await memoryPglite(), {
      jwtIssuer: 'https://auth.mana',
      jwtAudience: 'mana-sync',
    });
  });
  afterAll(() => ts?.close());

  it('accepts the right issuer and audience, refuses any other', async () => {
    const ok = await ts.auth.mint('alice', { issuer: 'https://auth.mana', audience: 'mana-sync' });
    expect((await pushWith(ts, `Bearer ${ok}`)).status).toBe(200);
    await expectRefused(ts, await ts.auth.mint('alice', { issuer: 'https://evil', audience: 'mana-sync' }));
    await expectRefused(ts, await ts.auth.mint('alice', { audience: 'mana-sync' }));
    await expectRefused(ts, await ts.auth.mint('alice', { issuer: 'https://auth.mana', audience: 'other' }));
    await expectRefused(ts, await ts.auth.mint('alice', { issuer: 'https://auth.mana' }));
  });
});

describe('JWKS endpoint down', () => {
  it('answers 503 AUTH_UNAVAILABLE with Retry-After while it is down, and recovers when it returns', async () => {
    const ts = await startTestServer(await memoryPglite());
    try {
      const token = await ts.auth.mint('alice');
      ts.auth.setDown(true); // answers 503: the key set was never fetched
      await expectRefused(ts, token, 'AUTH_UNAVAILABLE', 503);
      const res = await pushWith(ts, `Bearer ${token}`);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      ts.auth.setDown(false);
      expect((await pushWith(ts, `Bearer ${token}`)).status).toBe(200);
      // Once fetched, the cached key set keeps verifying while the auth service is down.
      ts.auth.setDown(true);
      expect((await pushWith(ts, `Bearer ${token}`)).status).toBe(200);
    } finally {
      await ts.close();
    }
  });

  // The other outages at the auth layer itself (real HTTP fetches of the key set, no store needed).
  it('refuses with AUTH_UNAVAILABLE when the auth service refuses connections or serves no JSON', async () => {
    const { createServer } = await import('node:http');
    const bad = createServer((_req, res) => res.writeHead(200).end('<html>maintenance</html>'));
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    const port = (bad.address() as { port: number }).port;
    const issuer = await startAuthService();
    try {
      const token = await issuer.mint('alice');
      for (const jwks of ['http://127.0.0.1:1/api/auth/jwks', `http://127.0.0.1:${port}/jwks`]) {
        attacks++;
        const auth = createAuth({ jwks, algorithms: ['EdDSA'] });
        await expect(auth.verifyToken(token)).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE' });
      }
    } finally {
      bad.close();
      await issuer.close();
    }
  });
});
