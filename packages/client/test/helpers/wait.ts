import type { SyncClient, SyncStatus } from '../../src/index.js';

/** Polls until `check` passes (assertion errors retried), or throws the last failure. */
export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 10_000,
  stepMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, stepMs));
    }
  }
}

export function waitForStatus(client: SyncClient, pred: (s: SyncStatus) => boolean, timeoutMs = 10_000) {
  return eventually(() => {
    const s = client.status;
    if (!pred(s)) throw new Error(`status not reached; now ${JSON.stringify(s)}`);
    return s;
  }, timeoutMs);
}
