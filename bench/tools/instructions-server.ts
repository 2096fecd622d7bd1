import { writeFileSync } from 'node:fs';
import { BENCH_DATABASE_URL, freshSchema } from '../lib/databases.js';
import { startEchoServer, startMana } from '../lib/servers.js';

/**
 * The server side of instructions.ts, run under valgrind: mana-sync without a database, the
 * node:http echo, or mana-sync on a fresh PostgreSQL schema (`push`); writes its port and
 * tokens to `out` and ends itself after 15 minutes (the schema is dropped on SIGTERM).
 */
const [target, out] = process.argv.slice(2);
const schema = target === 'push' ? await freshSchema(BENCH_DATABASE_URL!, 'instr') : undefined;
const end = async () => {
  await schema?.drop();
  process.exit(0);
};
setTimeout(end, 15 * 60_000).unref();
process.on('SIGTERM', end);
const mana = await startMana(
  schema ? { kind: 'postgres', url: schema.url, schema: schema.schema } : { kind: 'no-database' },
);
const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => mana.token(`instr-user-${i}`)));
const port = target === 'echo' ? (await startEchoServer()).port : mana.port;
writeFileSync(out!, JSON.stringify({ port, tokens }));
setInterval(() => {}, 60_000); // stay up until killed
