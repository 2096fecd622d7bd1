import type { SyncContext } from './context.js';

/** How long /health waits for the database before calling it down. */
const PING_TIMEOUT_MS = 2000;

/** The database's part of /health: whether it answers within PING_TIMEOUT_MS, and which it is. */
export async function storeHealth(
  ctx: SyncContext,
): Promise<{ database: 'up' | 'down'; store: 'postgres' | 'pglite' }> {
  let database: 'up' | 'down' = 'up';
  try {
    await withTimeout(ctx.store.ping(), PING_TIMEOUT_MS);
  } catch {
    database = 'down';
  }
  return { database, store: ctx.store.kind };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
