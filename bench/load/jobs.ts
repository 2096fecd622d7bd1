import type { Latency } from '../lib/stats.js';

/**
 * What the runner asks a load process to do. One job per process: the process runs it,
 * sends back one result and exits. Every job is bounded in count and time.
 */

export interface Timing {
  /** Requests finished during warm-up are not counted (JIT, prepared statements, pools). */
  warmupMs: number;
  /** Measured window. */
  durationMs: number;
  /** Stop earlier after this many measured requests (0: no cap). */
  maxRequests: number;
}

/** Closed-loop HTTP load: `workers` connections, each one request in flight. */
export interface HttpPushJob extends Timing {
  kind: 'http-push';
  port: number;
  workers: number;
  appId: string;
  /** Worker i acts with tokens[i % tokens.length]: one user each, or one shared heavy user. */
  tokens: string[];
  /** Changes per push (new records, todo-shaped). */
  batch: number;
  /** Send the last `syncedUntil` back as `since`, like a real client (false: no since). */
  trackCursor: boolean;
  /**
   * Each worker's cursor to start from: the `cursors` of the previous job of the same users.
   * Without it a job's first pushes would start from the beginning and page through every
   * record the earlier jobs wrote (1,000 a push): a catch-up, not ingest.
   */
  cursors?: Array<string | undefined>;
  /** Unique per job, so record ids never repeat across jobs of one run. */
  runId: string;
  /**
   * Another user's load that runs only while this job's slices do (alternating jobs): empty
   * pushes `{"clientId":"c","changes":[]}` on `workers` connections of their own.
   */
  alongside?: { token: string; workers: number };
}

/**
 * Two closed-loop jobs in turn from one process: slice after slice, each slice one of them,
 * in the order A B B A A B B A ... A slow drift of the machine's speed (other tenants,
 * seconds long) then moves both alike, where two jobs run seconds apart saw it as a
 * difference between them. Each job opens its connections once and keeps its state (a push
 * job its cursors) across its slices; its own warm-up and duration are not used. Before and
 * after each slice the process sends `{ mark: slice }` over IPC, so the runner can read its
 * own CPU time per slice.
 */
export interface AlternatingJob {
  kind: 'alternating';
  jobs: [SliceableJob, SliceableJob];
  slices: number;
  /** Each slice's warm-up (connections stay open: only the pipeline refills) and window. */
  slice: Timing;
}

export type SliceableJob = HttpPushJob | PgInsertJob;

export interface AlternatingResult {
  /** Slice n ran jobs[slices[n].job]. */
  slices: Array<LoadResult & { job: 0 | 1 }>;
  /** Each job's cursors at the end (push jobs that track them). */
  cursors: [Array<string | undefined> | undefined, Array<string | undefined> | undefined];
}

/** Closed-loop raw multi-row INSERT of seed-shaped sync_changes rows, postgres.js. */
export interface PgInsertJob extends Timing {
  kind: 'pg-insert';
  url: string;
  schema: string;
  workers: number;
  batch: number;
  users: number;
  runId: string;
}

/** One client's initial sync: pull pages until hasMore is false. */
export interface PullJob {
  kind: 'pull';
  port: number;
  token: string;
  appId: string;
  table: string;
  pageSize: number;
  expected: number;
  maxMs: number;
}

/** The same pages read straight from sync_records with postgres.js (keyset pagination). */
export interface PgPullJob {
  kind: 'pg-pull';
  url: string;
  schema: string;
  userId: string;
  appId: string;
  table: string;
  pageSize: number;
  expected: number;
  maxMs: number;
}

/**
 * The abuse figures' load (abuse-load.ts): an idle phase, then the abuse, with `/health`
 * polled every `healthEveryMs` throughout. `{ mark: 0 }` and `{ mark: 1 }` over IPC frame the
 * abuse, so the runner can split its RSS samples into idle and loaded.
 *
 *   big-pulls     `clients` connections, each pulling one table page after page (hasMore)
 *                 and starting over, until `durationMs` and at least one whole pass each
 *   held-uploads  `uploads` connections without a token, each sending headers with a
 *                 Content-Length of `contentLength`, then trickling bytes until refused or
 *                 closed, then opening again, for `durationMs`
 */
export interface AbuseJob {
  kind: 'abuse';
  load: 'big-pulls' | 'held-uploads';
  port: number;
  appId: string;
  token: string;
  table: string;
  clients: number;
  uploads: number;
  contentLength: number;
  idleMs: number;
  durationMs: number;
  healthEveryMs: number;
  maxMs: number;
}

export interface AbuseResult {
  health: { idle: Latency & { n: number }; loaded: Latency & { n: number }; failed: number };
  /** big-pulls: pages and bytes read, whole passes finished. */
  pages: number;
  bytes: number;
  passes: number;
  /** held-uploads: answers by status ("closed": the socket closed with no answer). */
  refusals: Record<string, number>;
  bytesSent: number;
  errors: number;
  firstError?: string;
}

export type Job = HttpPushJob | AlternatingJob | PgInsertJob | PullJob | PgPullJob | AbuseJob;

export interface LoadResult {
  /** Units done in the measured window (changes or rows or requests). */
  units: number;
  requests: number;
  /** Operations finished in all, warm-up included (per-operation server CPU). */
  total: number;
  elapsedMs: number;
  /** Per-request latency, ms. */
  latency: { p50: number; p90: number; p99: number; max: number };
  errors: number;
  firstError?: string;
  /** Alternating slices of a job with `alongside`: that load's answers by HTTP status. */
  alongside?: Record<string, number>;
  /** Push jobs that track the cursor: each worker's last `syncedUntil`. */
  cursors?: Array<string | undefined>;
}

export interface PullResult {
  records: number;
  pages: number;
  elapsedMs: number;
}

export type JobResult = LoadResult | PullResult | AlternatingResult | AbuseResult;
