/**
 * How hard the proof suites push. CI runs the defaults; `npm run test:long` sets
 * MANA_PROOF_RUNS high. MANA_PROOF_SEED replays a reported failure exactly.
 */
const raw = process.env.MANA_PROOF_RUNS;
const scale = raw && /^\d+$/.test(raw) ? Number(raw) : undefined;

/** Runs of a property: MANA_PROOF_RUNS when set, else the suite's CI default. */
export function proofRuns(ciDefault: number): number {
  return scale ?? ciDefault;
}

/** fast-check parameters shared by the proof suites. */
export function fcParams(ciDefault: number): { numRuns: number; seed?: number } {
  const seed = process.env.MANA_PROOF_SEED;
  return { numRuns: proofRuns(ciDefault), ...(seed && /^-?\d+$/.test(seed) ? { seed: Number(seed) } : {}) };
}

/** A test timeout that grows with the number of runs (ms per run, plus a floor). */
export function timeoutFor(runs: number, msPerRun: number): number {
  return 120_000 + runs * msPerRun;
}

/** One summary line per suite, so the counts of a run can be quoted. */
export function report(suite: string, counts: Record<string, number>): void {
  const parts = Object.entries(counts).map(([k, v]) => `${k}=${v}`);
  process.stdout.write(`[proof] ${suite}: ${parts.join(' ')}\n`);
}
