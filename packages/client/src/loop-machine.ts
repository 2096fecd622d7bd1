/**
 * The sync loop's control state (engine.ts) as one machine. SPEC.md's "Sync loop" table is this
 * table: test/spec-tables.test.ts compares them cell by cell, and test/loop.test.ts drives the
 * real engine through every transition it allows.
 *
 *            requested            pushed
 *   idle ──────────────▶ pushing ───────▶ pulling ── passDone ──▶ idle
 *    ▲                     ▲  ▲  ◀── pushWanted / passAgain ──┘
 *    │                     │  └─ retryDue ── waiting ◀── failedRetry ── (pushing | pulling)
 *    │                     └──── requested ── halted ◀── failedHalt ─── (pushing | pulling)
 *    └ dispose (any state) ▶ disposed
 *
 * What the loop wants next (push, tables to pull) and what one pass reads (the clientId, the
 * cursors) are data beside the state, not states.
 */
export type LoopState =
  /** No run: nothing asked, or everything asked is done. */
  | 'idle'
  /** A run pushes the outbox (its first step, and between pages of a long pull). */
  | 'pushing'
  /** A run pulls the tables it wants, page by page. */
  | 'pulling'
  /** A run failed for a reason that passes (network, 5xx/429, stall): a retry timer is set. */
  | 'waiting'
  /** A run failed and waits for the world: a sign-in (auth), a fix (rejected), the network (offline). */
  | 'halted'
  /** The engine was disposed (this tab stopped leading, or `stop()`): nothing runs again. */
  | 'disposed';

export type LoopEvent =
  /** A write, a notification, a timer or the app asked for a push or a pull. */
  | 'requested'
  /** The outbox is drained: the run goes on to its pulls. */
  | 'pushed'
  /** A write arrived during a long pull: pushed before the next page. */
  | 'pushWanted'
  /** The pass ended and nothing more was asked meanwhile. */
  | 'passDone'
  /** The pass ended and more was asked meanwhile: another pass of the same run. */
  | 'passAgain'
  /** The run failed; a retry is scheduled. */
  | 'failedRetry'
  /** The run failed; no retry until something outside asks. */
  | 'failedHalt'
  /** The retry timer fired. */
  | 'retryDue'
  | 'dispose';

/** `null`: the event cannot happen in that state; it is ignored. */
export type Table<S extends string, E extends string> = Record<S, Record<E, S | null>>;

export const LOOP_TRANSITIONS: Table<LoopState, LoopEvent> = {
  idle: {
    requested: 'pushing',
    pushed: null,
    pushWanted: null,
    passDone: null,
    passAgain: null,
    failedRetry: null,
    failedHalt: null,
    retryDue: null,
    dispose: 'disposed',
  },
  pushing: {
    // Served by the run in flight: merged into what it wants next.
    requested: 'pushing',
    pushed: 'pulling',
    pushWanted: null,
    passDone: null,
    passAgain: null,
    failedRetry: 'waiting',
    failedHalt: 'halted',
    retryDue: null,
    dispose: 'disposed',
  },
  pulling: {
    requested: 'pulling',
    pushed: null,
    pushWanted: 'pushing',
    passDone: 'idle',
    passAgain: 'pushing',
    failedRetry: 'waiting',
    failedHalt: 'halted',
    retryDue: null,
    dispose: 'disposed',
  },
  waiting: {
    // Anything asked now runs now: the timer is cleared.
    requested: 'pushing',
    pushed: null,
    pushWanted: null,
    passDone: null,
    passAgain: null,
    failedRetry: null,
    failedHalt: null,
    retryDue: 'pushing',
    dispose: 'disposed',
  },
  halted: {
    requested: 'pushing',
    pushed: null,
    pushWanted: null,
    passDone: null,
    passAgain: null,
    failedRetry: null,
    failedHalt: null,
    retryDue: null,
    dispose: 'disposed',
  },
  disposed: {
    requested: null,
    pushed: null,
    pushWanted: null,
    passDone: null,
    passAgain: null,
    failedRetry: null,
    failedHalt: null,
    retryDue: null,
    dispose: null,
  },
};

export interface Transition<S, E> {
  from: S;
  event: E;
  to: S;
}

export interface Machine<S extends string, E extends string> {
  readonly state: S;
  /** Moves by the table; an event the state does not take leaves it as it is (returns false). */
  send(event: E): boolean;
}

export function createMachine<S extends string, E extends string>(
  table: Table<S, E>,
  initial: S,
  onTransition?: (t: Transition<S, E>) => void,
): Machine<S, E> {
  let state = initial;
  return {
    get state() {
      return state;
    },
    send(event) {
      const to = table[state][event];
      if (to === null) return false;
      const from = state;
      state = to;
      onTransition?.({ from, event, to });
      return true;
    },
  };
}
