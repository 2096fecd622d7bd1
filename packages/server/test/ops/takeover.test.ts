import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pgliteDb } from '../../src/db/pglite.js';
import { SOURCE_BIN } from '../cli/bin.js';
import { diskPglite } from '../helpers/databases.js';
import { GO_SCHEMA, GoWriter, insertGoRows, micros } from './go-service.js';
import { takeoverSuite } from './takeover-suite.js';

takeoverSuite('PGlite', diskPglite);

describe('mana-sync takeover (the CLI)', () => {
  it('migrates nothing itself, merges the Go rows with its log lines on stderr and a summary on stdout', async () => {
    const db = await diskPglite();
    try {
      const rows = new GoWriter(['fay'], 3).rows(500, micros('2025-03-01T08:00:00Z'));
      const admin = await pgliteDb(db.options.dataDir);
      await admin.exec(GO_SCHEMA);
      await insertGoRows(admin, rows);
      await admin.close();
      const env = { MANA_SYNC_DATA_DIR: db.options.dataDir! };

      const early = await cli(['takeover'], env);
      expect(early.code).toBe(2);
      expect(early.stderr).toContain('run `mana-sync migrate` first');
      expect((await cli(['migrate'], env)).code).toBe(0);

      const first = await cli(['takeover', '--batch-size', '100'], env);
      expect(first.code, first.stderr).toBe(0);
      const spaceRows = rows.filter((r) => r.space).length;
      expect(first.stdout).toContain(`merged 500 Go change-log rows of 1 users`);
      expect(first.stdout).toContain(`${spaceRows} rows had a space_id`);
      expect(first.stderr).toContain('takeover: done');
    } finally {
      await db.drop();
    }
  }, 60_000);
});

/** Runs the real CLI; resolves with its exit code and output whatever the code. */
async function cli(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...SOURCE_BIN, ...args], {
      env: { ...process.env, DATABASE_URL: '', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
