import { parseArgs } from 'node:util';
import type { Command } from './commands/command.js';
import { OptionError } from './commands/command.js';
import { compactCommand } from './commands/compact.js';
import { statsCommand } from './commands/stats.js';
import { takeoverCommand } from './commands/takeover.js';
import { tokenCommand, tokenCommandLine } from './commands/token.js';
import { ConfigError, loadConfig, settingsTable } from './config.js';
import { startServer } from './server.js';
import { DataDirBusyError, openMaintenanceStore } from './sync/maintenance.js';
import { VERSION } from './version.js';

/**
 * mana-sync [command] [options]. Each command declares its options once; `--help` is
 * printed from them. Longer command bodies live in ./commands/.
 */

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'Start the sync server (the default command)',
    options: {
      'dev-auth': {
        type: 'boolean',
        description: 'Turn on the dev token issuer (same as MANA_SYNC_DEV_AUTH=1)',
      },
      port: { type: 'string', description: 'Port (overrides PORT)' },
    },
    async run(v) {
      if (v['dev-auth']) process.env.MANA_SYNC_DEV_AUTH = '1';
      if (typeof v.port === 'string') process.env.PORT = v.port;
      const server = await startServer();
      const { config, devIssuer, logger } = server.context;
      const where = config.databaseUrl ? 'PostgreSQL' : `embedded PGlite at ${config.dataDir}`;
      const lines = [`Mana Sync ${VERSION} listening on ${server.url} (${where})`];
      if (devIssuer) {
        const token = await devIssuer.mint('dev-user');
        lines.push(
          'Dev auth is ON (never use it in production). A token for user "dev-user", valid 24 h:',
          token,
          `Mint more: ${tokenCommandLine(config)}   or   curl -XPOST ${server.url}/dev/token -d '{"user":"alice"}'`,
        );
      }
      process.stderr.write(`${lines.join('\n')}\n`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        server.close(config.shutdownGraceMs).then(
          () => process.exit(0),
          (err) => {
            logger.error({ err: String(err) }, 'shutdown failed');
            process.exit(1);
          },
        );
        // Last resort if closing itself hangs (e.g. the database never answers).
        setTimeout(() => process.exit(1), config.shutdownGraceMs + 5000).unref();
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      return undefined; // keep running
    },
  },
  migrate: {
    summary: 'Apply pending database migrations and exit',
    options: {},
    async run() {
      const config = loadConfig();
      const store = await openMaintenanceStore(config);
      try {
        const applied = await store.migrate();
        process.stdout.write(
          applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'database is up to date\n',
        );
      } finally {
        await store.close();
      }
      return 0;
    },
  },
  token: tokenCommand,
  compact: compactCommand,
  stats: statsCommand,
  takeover: takeoverCommand,
};

function help(name?: string): string {
  const cmd = name ? COMMANDS[name] : undefined;
  if (cmd && name) {
    const opts = Object.entries(cmd.options).map(
      ([o, d]) =>
        `  --${o}${d.type === 'string' ? ' <value>' : ''}`.padEnd(26) +
        d.description +
        (d.default ? ` [${d.default}]` : ''),
    );
    return [
      `mana-sync ${name}: ${cmd.summary}`,
      '',
      'Options:',
      ...opts,
      `${'  --help'.padEnd(26)}Show this help`,
      '',
    ].join('\n');
  }
  const cmds = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return [
    `mana-sync ${VERSION}: the Mana Sync server`,
    '',
    'Usage: mana-sync [command] [options]      (mana-sync <command> --help for its options)',
    '',
    'Commands:',
    ...cmds,
    '',
    'Environment (default in brackets):',
    settingsTable(),
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number | undefined> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(help(rest[0]));
    return 0;
  }
  const name = first === undefined || first.startsWith('-') ? 'serve' : first;
  const args = first === undefined || first.startsWith('-') ? argv : rest;
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`mana-sync: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, options: { ...cmd.options, help: { type: 'boolean' } }, strict: true }).values;
  } catch (err) {
    process.stderr.write(`mana-sync ${name}: ${(err as Error).message}\n\n${help(name)}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(help(name));
    return 0;
  }
  return cmd.run(values);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (err) => {
    if (err instanceof ConfigError || err instanceof OptionError || err instanceof DataDirBusyError) {
      process.stderr.write(`mana-sync: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`mana-sync: ${(err as Error)?.message ?? err}\n`);
    process.exit(1);
  },
);
