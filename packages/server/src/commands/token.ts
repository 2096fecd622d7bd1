import { existsSync } from 'node:fs';
import { createDevIssuer } from '../auth/dev-issuer.js';
import { type Config, ConfigError, loadConfig, SETTINGS } from '../config.js';
import { devKeyFile } from '../server.js';
import type { Command } from './command.js';

/**
 * `mana-sync token`: a dev token signed with the dev key in MANA_SYNC_DATA_DIR, the key the
 * server with dev auth on the same data directory verifies with. The token goes to stdout
 * (`TOKEN=$(mana-sync token)`), which key signed it to stderr. Why: run with another (or no)
 * MANA_SYNC_DATA_DIR than the server's, it makes a new key, and its token gets 401 with
 * nothing saying why.
 */
export const tokenCommand: Command = {
  summary: 'Mint a dev token (the dev issuer key in MANA_SYNC_DATA_DIR)',
  options: {
    user: { type: 'string', description: 'User id (the token subject)', default: 'dev-user' },
    ttl: { type: 'string', description: 'Lifetime in seconds', default: '86400' },
  },
  async run(v) {
    const config = loadConfig({ ...process.env, MANA_SYNC_DEV_AUTH: '1' });
    const ttl = Number(v.ttl ?? 86400);
    if (!Number.isInteger(ttl) || ttl < 1)
      throw new ConfigError(`--ttl must be a positive whole number, got "${v.ttl}"`);
    if (ttl > config.jwtMaxTtlS)
      throw new ConfigError(`--ttl must be at most ${config.jwtMaxTtlS} (JWT_MAX_TTL_S), got ${ttl}`);
    const user = String(v.user ?? 'dev-user');
    if (!/^[A-Za-z0-9_.:@+=~-]{1,256}$/.test(user))
      throw new ConfigError(`--user: letters, digits and _ . : @ + = ~ -`);
    const keyFile = devKeyFile(config);
    const existed = existsSync(keyFile);
    const issuer = await createDevIssuer(keyFile, {
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
    });
    process.stdout.write(`${await issuer.mint(user, ttl)}\n`);
    process.stderr.write(
      existed
        ? `mana-sync token: signed with the dev key ${keyFile}\n`
        : `mana-sync token: no dev key in ${config.dataDir}: made a new one (${keyFile}); a server started on another data dir will refuse this token (set MANA_SYNC_DATA_DIR to the server's)\n`,
    );
    return 0;
  },
};

/**
 * The command that mints a token this server accepts, as the start-up lines show it: with the
 * settings `mana-sync token` must share with the server when they are not the defaults (the
 * data directory holds the dev key; dev tokens carry JWT_ISSUER and JWT_AUDIENCE).
 */
export function tokenCommandLine(config: Config, user = 'alice'): string {
  const env: string[] = [];
  if (config.dataDir !== SETTINGS.dataDir.parse(SETTINGS.dataDir.default, SETTINGS.dataDir.env))
    env.push(`MANA_SYNC_DATA_DIR=${shellQuote(config.dataDir)}`);
  if (config.jwtIssuer) env.push(`JWT_ISSUER=${shellQuote(config.jwtIssuer)}`);
  if (config.jwtAudience) env.push(`JWT_AUDIENCE=${shellQuote(config.jwtAudience)}`);
  return [...env, 'npx mana-sync token --user', user].join(' ');
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
