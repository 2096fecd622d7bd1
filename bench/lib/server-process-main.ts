import type { SeedScript } from './abuse-seed.js';
import { startMana } from './servers.js';

/** Entry of a server process (see server-process.ts). Ends itself after BENCH_JOB_TIMEOUT_MS. */
const { url, schema, pglite, seed, userId, others, userLimits } = JSON.parse(process.argv[2]!) as {
  url: string;
  schema: string;
  /** Serve an in-memory PGlite in this process instead, seeded with `seed` before start. */
  pglite?: boolean;
  seed?: SeedScript[];
  userId: string;
  /** More users to mint a token for (the abuse figures' several users). */
  others?: string[];
  userLimits?: boolean;
};
const timeoutMs = Number(process.env.BENCH_JOB_TIMEOUT_MS ?? 120_000);
setTimeout(() => process.exit(3), timeoutMs).unref();

try {
  const mana = await startMana(pglite ? { kind: 'pglite' } : { kind: 'postgres', url, schema }, {
    userLimits: userLimits ?? false,
  });
  // PGlite lives in this process: its data can only be written from here.
  for (const script of seed ?? [])
    for (const statement of script.statements)
      await mana.server.db!.forUser(script.userId).transaction((tx) => tx.exec(statement));
  const token = await mana.token(userId);
  const tokens: Record<string, string> = {};
  for (const u of others ?? []) tokens[u] = await mana.token(u);
  const startRssMb = process.memoryUsage.rss() / 1024 / 1024;
  process.once('message', async () => {
    // ru_maxrss: the kernel's record of this process's peak resident set, in KB.
    const maxRssMb = process.resourceUsage().maxRSS / 1024;
    await mana.close();
    process.send?.({ maxRssMb, startRssMb }, () => process.exit(0));
  });
  process.send?.({ port: mana.port, token, tokens });
} catch (err) {
  process.send?.({ error: String((err as Error)?.stack ?? err) }, () => process.exit(1));
}
