import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

/**
 * A stand-in for the Mana auth service: a real HTTP server on loopback that serves an
 * Ed25519 JWKS at /api/auth/jwks, and mints tokens signed with its key.
 */
export interface AuthService {
  url: string;
  jwksUrl: string;
  publicJwk: JWK;
  mint(sub: string | undefined, opts?: MintOptions): Promise<string>;
  /** Requests served so far (tests of caching and cooldown). */
  hits(): number;
  /** Makes the JWKS endpoint fail (true) or recover (false). */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export interface MintOptions {
  /** Seconds from now (default 3600); null: no `exp` at all. */
  expiresIn?: number | null;
  /** Seconds from now for `iat` (default 0); null: no `iat`. */
  issuedAt?: number | null;
  notBefore?: number;
  issuer?: string;
  audience?: string;
  kid?: string;
  claims?: Record<string, unknown>;
}

export async function startAuthService(): Promise<AuthService> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'EdDSA', use: 'sig' };
  let hits = 0;
  let down = false;
  const server: Server = createServer((req, res) => {
    hits++;
    if (down) {
      res.writeHead(503).end();
      return;
    }
    if (req.url === '/api/auth/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    jwksUrl: `${url}/api/auth/jwks`,
    publicJwk,
    async mint(sub, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      let jwt = new SignJWT(opts.claims ?? {}).setProtectedHeader({
        alg: 'EdDSA',
        kid: opts.kid ?? 'test-key-1',
      });
      if (opts.issuedAt !== null) jwt = jwt.setIssuedAt(now + (opts.issuedAt ?? 0));
      if (opts.expiresIn !== null) jwt = jwt.setExpirationTime(now + (opts.expiresIn ?? 3600));
      if (sub !== undefined) jwt = jwt.setSubject(sub);
      if (opts.notBefore !== undefined) jwt = jwt.setNotBefore(now + opts.notBefore);
      if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
      if (opts.audience) jwt = jwt.setAudience(opts.audience);
      return jwt.sign(privateKey);
    },
    hits: () => hits,
    setDown(d) {
      down = d;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
