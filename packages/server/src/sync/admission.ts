import { RateLimitedError } from '../rate-limit.js';

/**
 * Per-user admission of the requests that work the database (push and pull): at most
 * `concurrency` of one user's requests run at once (RATE_LIMIT_CONCURRENCY), the next ones
 * wait in that user's own FIFO queue, at most `queue` of them (RATE_LIMIT_QUEUE), and a user
 * whose RATE_LIMIT_ROWS budget is spent waits until it has refilled.
 *
 * Why: one user on 8 connections asking for a 1,000-record page each held 8 of the pool's 10
 * database connections and 8 answers in the event loop at once; another user's 3 ms push
 * queued behind them for 100 ms. A per-user rate alone does not stop that: it bounds the
 * average, not how much of the server one user holds at a moment. With this, another user's
 * request waits behind at most `concurrency` of that user's requests, and the heavy user's
 * own requests queue behind each other, never in another user's queue.
 *
 * Waiting, not refusing (for the budget up to `maxWaitMs`): a client that sends its requests
 * one after another (ours) is slowed to its budget, never refused, and an attacker that ignores
 * Retry-After gets no flood of cheap 429s to send in a loop; the queue holds its sockets
 * instead, a bounded number. Beyond the queue, or a wait for the budget longer than
 * `maxWaitMs`: 429 RATE_LIMITED with Retry-After.
 *
 * A slot is held from admission until the response has closed (sent or abandoned), so the
 * answer's serialization counts too. In memory, per instance, like the rate limit.
 */
export interface Admission {
  /**
   * Admits a request of `userId` whose response is `res`: undefined when it may run now, a
   * promise when it waits (resolves when it may run). Throws RATE_LIMITED when the user's
   * queue is full or the wait for the budget would be too long. A response that closes while
   * its request waits leaves the queue (the promise rejects).
   */
  admit(userId: string, res: Closable): Promise<void> | undefined;
  /** Users with requests running or waiting (memory). */
  size(): number;
}

interface Closable {
  once(event: 'close', listener: () => void): unknown;
}

interface AdmissionOptions {
  /** Requests of one user running at once (0: no cap). */
  concurrency: number;
  /** Requests of one user waiting beyond those; one more is refused. */
  queue: number;
  /**
   * Longest wait for the row budget, known at admission; a longer one is refused
   * (RATE_LIMIT_MAX_WAIT_MS). A wait for a slot has no limit of its own: it lasts as long as
   * the user's own requests ahead of it (a database outage: until they answer 503), and the
   * queue's length bounds what it holds.
   */
  maxWaitMs: number;
  /** Milliseconds until the user's row budget is no longer spent (0: not spent now). */
  rowsWaitMs(userId: string, now: number): number;
  /** A request enters its user's queue (metrics): waiting for a slot or for the budget. */
  onQueued?(reason: 'concurrency' | 'rows'): void;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  /** Left the queue (admitted, refused or gone). */
  done: boolean;
  res: Closable;
}

interface UserQueue {
  running: number;
  waiting: Waiter[];
  /** Set while the queue's head waits for the row budget. */
  timer?: NodeJS.Timeout;
}

export function createAdmission(opts: AdmissionOptions): Admission {
  const users = new Map<string, UserQueue>();
  const cap = opts.concurrency > 0 ? opts.concurrency : Number.POSITIVE_INFINITY;

  const tooLong = (waitMs: number) => new RateLimitedError(Math.max(1, Math.ceil(waitMs / 1000)));

  /** Runs the request of `res` in a slot of `u` until the response closes. */
  function hold(userId: string, u: UserQueue, res: Closable): void {
    u.running++;
    res.once('close', () => {
      u.running--;
      pump(userId, u);
    });
  }

  /** Admits waiting requests while a slot is free and the budget allows. */
  function pump(userId: string, u: UserQueue): void {
    while (u.waiting.length > 0 && u.running < cap) {
      if (u.timer) return;
      const wait = opts.rowsWaitMs(userId, Date.now());
      if (wait > 0) {
        u.timer = setTimeout(() => {
          u.timer = undefined;
          pump(userId, u);
        }, wait);
        u.timer.unref();
        return;
      }
      const w = u.waiting.shift()!;
      w.done = true;
      hold(userId, u, w.res);
      w.resolve();
    }
    if (u.running === 0 && u.waiting.length === 0 && !u.timer) users.delete(userId);
  }

  return {
    admit(userId, res) {
      const wait = opts.rowsWaitMs(userId, Date.now());
      if (wait > opts.maxWaitMs) throw tooLong(wait);
      let u = users.get(userId);
      if (!u) {
        u = { running: 0, waiting: [] };
        users.set(userId, u);
      }
      if (wait === 0 && u.running < cap && u.waiting.length === 0) {
        hold(userId, u, res);
        return undefined;
      }
      if (u.waiting.length >= opts.queue) {
        if (u.running === 0 && u.waiting.length === 0) users.delete(userId);
        throw tooLong(Math.max(wait, 1000));
      }
      opts.onQueued?.(wait > 0 ? 'rows' : 'concurrency');
      const queue = u;
      return new Promise<void>((resolve, reject) => {
        const w: Waiter = { resolve, reject, done: false, res };
        queue.waiting.push(w);
        const leave = (err: Error) => {
          if (w.done) return;
          w.done = true;
          queue.waiting.splice(queue.waiting.indexOf(w), 1);
          reject(err);
          pump(userId, queue);
        };
        // Gone while waiting: its place goes to the next one. Admitted: the slot's listener.
        res.once('close', () => leave(tooLong(0)));
        pump(userId, queue);
      });
    },
    size: () => users.size,
  };
}
