import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';

/**
 * A JWKS the server trusts whose tokens are signed over hand-written payload bytes. jose's
 * SignJWT encodes claims as UTF-8, which silently replaces lone surrogates; an issuer (or an
 * attacker holding a key) can write `"sub":"\ud800"` by hand, so the tests do too.
 */
export interface RawIssuer {
  jwksUrl: string;
  /** A token whose payload is exactly `payloadJson`. */
  sign(payloadJson: string): Promise<string>;
  /** A token for `subJson` (already a JSON string literal, escapes and all), valid 10 minutes. */
  tokenFor(subJson: string): Promise<string>;
  close(): Promise<void>;
}

export async function startRawIssuer(): Promise<RawIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'raw', alg: 'EdDSA' };
  const server = createServer((_q, r) =>
    r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sign = (payloadJson: string) =>
    new CompactSign(new TextEncoder().encode(payloadJson))
      .setProtectedHeader({ alg: 'EdDSA', kid: 'raw' })
      .sign(privateKey);
  return {
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    sign,
    tokenFor: (subJson) => sign(`{"sub":${subJson},"exp":${Math.floor(Date.now() / 1000) + 600}}`),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
