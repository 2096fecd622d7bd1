// The footprint group's PGlite baseline, run with plain node: PGlite.create() and nothing else,
// then an HTTP server that answers 200, so its "ready" is measured as the server's /health is.
//   node bench/lib/bare-pglite.mjs <port> <default|server> [dataDir]
// `server`: the options the server passes (PGLITE_OPTIONS, from its build: npm run build).
import { createServer } from 'node:http';
import { PGlite } from '@electric-sql/pglite';

const [port, settings, dataDir] = process.argv.slice(2);
const options =
  settings === 'server' ? (await import('../../packages/server/dist/db/pglite.js')).PGLITE_OPTIONS : {};
const pg = await PGlite.create(dataDir, options);
await pg.query('SELECT 1');
createServer((_, res) => res.end('ok')).listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => pg.close().then(() => process.exit(0)));
