import { startMana } from './servers.js';

/** Entry of a server process (see server-process.ts). Ends itself after BENCH_JOB_TIMEOUT_MS. */
const { url, schema, userId, others } = JSON.parse(process.argv[2]!) as {
  url: string;
  schema: string;
  userId: string;
  /** More users to mint a token for (the abuse figures' several users). */
  others?: string[];
};
const timeoutMs = Number(process.env.BENCH_JOB_TIMEOUT_MS ?? 120_000);
setTimeout(() => process.exit(3), timeoutMs).unref();

try {
  const mana = await startMana({ kind: 'postgres', url, schema });
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
