import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTVerifyGetKey,
  SignJWT,
} from 'jose';

export const DEV_ISSUER = 'mana-sync-dev';

/**
 * The dev token issuer (MANA_SYNC_DEV_AUTH=1): an Ed25519 key whose JWKS the server serves
 * at /dev/jwks. The key is kept in the data directory so that `mana-sync token` (another
 * process) mints tokens the running server accepts, and tokens survive a restart.
 * For local use only: config refuses it when NODE_ENV=production.
 */
export interface DevIssuer {
  jwks: { keys: JWK[] };
  getKey: JWTVerifyGetKey;
  mint(userId: string, ttlSeconds?: number): Promise<string>;
}

/**
 * What the dev issuer writes into its tokens. Why: with JWT_ISSUER or JWT_AUDIENCE set, the
 * server checks them on every token, dev ones included (a developer trying those checks sees
 * them enforced), so dev tokens carry them: the issuer is JWT_ISSUER (else `mana-sync-dev`),
 * the audience JWT_AUDIENCE (else none).
 */
export interface DevClaims {
  issuer?: string | undefined;
  audience?: string | undefined;
}

/** The issuer a server with dev auth requires, and its dev tokens carry. */
export const devIssuerName = (claims: DevClaims = {}) => claims.issuer || DEV_ISSUER;

export async function createDevIssuer(keyFile?: string, claims: DevClaims = {}): Promise<DevIssuer> {
  let privateJwk: JWK;
  if (keyFile && existsSync(keyFile)) {
    privateJwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK;
  } else {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    privateJwk = { ...(await exportJWK(privateKey)), kid: `dev-${randomUUID().slice(0, 8)}`, alg: 'EdDSA' };
    if (keyFile) {
      mkdirSync(dirname(keyFile), { recursive: true });
      writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
    }
  }
  const { d: _private, ...publicJwk } = privateJwk;
  const jwks = { keys: [{ ...publicJwk, use: 'sig' }] };
  const signingKey = await importJWK(privateJwk, 'EdDSA');
  return {
    jwks,
    getKey: createLocalJWKSet(jwks),
    async mint(userId, ttlSeconds = 24 * 3600) {
      const jwt = new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: privateJwk.kid! })
        .setSubject(userId)
        .setIssuer(devIssuerName(claims))
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds);
      if (claims.audience) jwt.setAudience(claims.audience);
      return jwt.sign(signingKey);
    },
  };
}
