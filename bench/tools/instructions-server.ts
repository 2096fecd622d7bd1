import { writeFileSync } from 'node:fs';
import { startEchoServer, startMana } from '../lib/servers.js';

/**
 * The server side of instructions.ts, run under valgrind: mana-sync without a database, or the
 * node:http echo; writes its port and tokens to `out` and ends itself after 15 minutes.
 */
const [target, out] = process.argv.slice(2);
setTimeout(() => process.exit(0), 15 * 60_000).unref();
const mana = await startMana({ kind: 'no-database' });
const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => mana.token(`instr-user-${i}`)));
const port = target === 'echo' ? (await startEchoServer()).port : mana.port;
writeFileSync(out!, JSON.stringify({ port, tokens }));
setInterval(() => {}, 60_000); // stay up until killed
