import type { MaintenanceStore } from '../sync/maintenance.js';

/**
 * One CLI command: its options are declared once, and `--help` is printed from them.
 * `run` resolves to an exit code, or undefined to keep the process running (serve).
 */
export interface Command {
  summary: string;
  options: Record<string, { type: 'string' | 'boolean'; description: string; default?: string }>;
  run(values: Record<string, string | boolean | undefined>): Promise<number | undefined>;
}

/** A whole number from an option, or a ConfigError-style message naming it. */
export function wholeNumber(raw: string | boolean | undefined, name: string, min: number): number {
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || n < min) {
    throw new OptionError(`--${name} must be a whole number >= ${min}, got "${raw}"`);
  }
  return n;
}

export class OptionError extends Error {
  override name = 'OptionError';
}

/**
 * Maintenance commands do not migrate (a newer CLI must not change the schema under an older
 * running server): they stop with a clear line when the tables are not there.
 */
export async function requireSchema(store: MaintenanceStore): Promise<void> {
  if (!(await store.hasSchema()))
    throw new OptionError('no Mana Sync tables in this database; run `mana-sync migrate` first');
}
