/**
 * How hard the proof suites push. CI runs the defaults; `npm run test:long` sets
 * MANA_PROOF_RUNS high. MANA_PROOF_SEED replays a reported failure exactly.
 *
 * MANA_PROOF_RUNS is the number of convergence histories per store (CI: 200); every other
 * suite scales its own CI default by the same factor, so one knob makes the whole run longer.
 */
const CONVERGENCE_CI_RUNS = 200;
const raw = process.env.MANA_PROOF_RUNS;
const factor = raw && /^\d+$/.test(raw) ? Number(raw) / CONVERGENCE_CI_RUNS : 1;

/** Runs of a property: its CI default, scaled by MANA_PROOF_RUNS. */
export function proofRuns(ciDefault: number): number {
  return Math.max(1, Math.round(ciDefault * factor));
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
