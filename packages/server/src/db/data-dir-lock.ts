import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One process per embedded data directory. PGlite takes no lock of its own, and two
 * processes writing one directory corrupt it; so the opener writes its pid into
 * `mana-sync.pid` there, and a second opener fails with a line naming the holder. A file
 * left by a dead process (or by an earlier run that had our pid, as pid 1 in a restarted
 * container) is taken over.
 */
export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError';
}

const held = new Set<string>();

export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'mana-sync.pid');
  if (held.has(file)) throw new DataDirBusyError(`${dir} is already open in this process`);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new DataDirBusyError(
          `the data directory ${dir} is in use by process ${pid} (a running mana-sync?). ` +
            'Stop it first, or use PostgreSQL (DATABASE_URL) to run this while serving.',
        );
      }
      unlinkSync(file); // stale: its process is gone
    }
  }
  held.add(file);
  return () => {
    held.delete(file);
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
