import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { KEY_SEPARATOR, type KeyedHistogram, keyedHistogram } from './keyed-histogram.js';

/**
 * Prometheus metrics of one server instance, in a registry of its own (not prom-client's
 * global one), so several servers in one process (tests) keep separate counts.
 *
 * Cardinality is bounded by construction: `route` is the route template (`/sync/:appId`),
 * `status` an HTTP status, `method` one of a fixed list, and `app` one of at most
 * METRICS_MAX_APPS app ids (later ones count as `_other`). No label ever holds a user id,
 * record id or raw path.
 *
 * App labels cannot be squatted: an app gets one only once it has data (a push to it was
 * accepted, or a pull or stream returned its records: appLabelWithData), and one user may
 * introduce at most METRICS_NEW_APPS_PER_USER of them, so pushing to /sync/squat-1..105 takes
 * a few slots, not all. With MANA_APPS set, those apps are the labels and nothing else is.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Read from httpDuration's counts at scrape time: one observation per request. */
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: KeyedHistogram<'method' | 'route' | 'status'>;
  readonly changesPushed: Counter<'app'>;
  readonly fieldsAccepted: Counter<'app'>;
  readonly conflicts: Counter<'app'>;
  readonly recordsPulled: Counter<'app'>;
  readonly pushesOvertaken: Counter<never>;
  /** Observed with the key '' (no labels). */
  readonly pushBatchSize: KeyedHistogram<never>;
  /** Connections refused over MAX_CONNECTIONS (`instance`) or MAX_CONNECTIONS_PER_ADDRESS (`address`). */
  readonly connectionsRefused: Counter<'reason'>;
  /** Open connections of this instance (HTTP, SSE, WebSocket). */
  readonly connectionsOpen: Gauge<never>;
  /** Open `GET /sync/{appId}/stream` responses. */
  readonly sseStreams: Gauge<never>;
  /** Streams refused because their user was at SSE_MAX_STREAMS_PER_USER. */
  readonly sseStreamsRefused: Counter<never>;
  readonly sseBlocksSent: Counter<never>;
  readonly sseChangesSent: Counter<'app'>;
  /**
   * The WebSocket hub's numbers, read at scrape time (no work on the socket hot path): the
   * hub keeps its own counts for /health, and registers them here once at start-up.
   */
  setRealtimeSource(source: () => RealtimeStats): void;
  /**
   * Fan-out delay of each NOTIFY batch heard from another instance (PostgreSQL fan-out only):
   * from the batch's oldest push there to its arrival here. One observation per batch, so
   * prom-client's own histogram.
   */
  readonly fanoutDelay: Histogram<never>;
  readonly dbErrors: Counter<'operation' | 'kind'>;
  /** Failed credential checks counted against a client address (AUTH_FAIL_LIMIT). */
  readonly authFailures: Counter<never>;
  /** Credentials refused with 429 unchecked: their address was over AUTH_FAIL_LIMIT. */
  readonly authLimited: Counter<never>;
  /** Pushes and pulls that waited in their user's queue (admission.ts), by what they waited for. */
  readonly requestsQueued: Counter<'reason'>;
  /** Keyed by the operation name (push, pull, ping). */
  readonly dbDuration: KeyedHistogram<'operation'>;
  /** The `app` label of an app that already has one (or is in MANA_APPS), else `_other`; never adds one. */
  appLabel(appId: string): string;
  /**
   * The `app` label of an app `userId` has data in: a new one while there is room and the
   * user has introduced fewer than `maxNewAppsPerUser`, else `_other`.
   */
  appLabelWithData(appId: string, userId: string): string;
  /** Records one finished HTTP request. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
}

/** What the WebSocket hub reports: current counts and totals since start. */
interface RealtimeStats {
  connections: number;
  users: number;
  notificationsSent: number;
  notificationsCoalesced: number;
  resyncs: number;
}

interface MetricsOptions {
  /** Distinct `app` label values kept before the rest count as `_other`. */
  maxAppLabels: number;
  /** New app labels one user may introduce (default: unlimited). */
  maxNewAppsPerUser?: number;
  /** The declared apps (MANA_APPS): when given, the only labels, and no others are ever added. */
  apps?: string[] | undefined;
}

const OTHER_APP = '_other';
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const httpDuration = keyedHistogram({
    name: 'mana_sync_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: SECONDS,
    registers,
  });
  const httpRequests = new Counter({
    name: 'mana_sync_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
    collect() {
      this.reset();
      for (const { labels, count } of httpDuration.counts()) this.inc(labels, count);
    },
  });
  const declared = opts.apps && opts.apps.length > 0 ? new Set(opts.apps) : undefined;
  const knownApps = new Set<string>(declared);
  /** How many labels each user introduced (at most maxAppLabels entries: one per label). */
  const introducedBy = new Map<string, number>();
  const maxNewAppsPerUser = opts.maxNewAppsPerUser ?? Number.POSITIVE_INFINITY;
  new Gauge({
    name: 'mana_sync_app_labels',
    help: 'Distinct app label values in use (METRICS_MAX_APPS caps them; the rest count as _other)',
    registers,
    collect() {
      this.set(knownApps.size);
    },
  });
  /** httpDuration keys by method, route template and status (all bounded sets). */
  const requestKeys = new Map<string, Map<string, string[]>>();
  let realtime: (() => RealtimeStats) | undefined;
  /** A gauge or counter whose value is read from the hub when scraped (none until it registers). */
  const fromRealtime = (kind: 'gauge' | 'counter', name: string, help: string, key: keyof RealtimeStats) => {
    if (kind === 'gauge') {
      return new Gauge({
        name,
        help,
        registers,
        collect() {
          if (realtime) this.set(realtime()[key]);
        },
      });
    }
    return new Counter({
      name,
      help,
      registers,
      collect() {
        if (!realtime) return;
        this.reset();
        this.inc(realtime()[key]);
      },
    });
  };
  fromRealtime('gauge', 'mana_sync_ws_connections', 'Open WebSocket connections', 'connections');
  fromRealtime('gauge', 'mana_sync_ws_users', 'Users with at least one authenticated WebSocket', 'users');
  fromRealtime(
    'counter',
    'mana_sync_ws_notifications_sent_total',
    'sync-available notifications written to WebSockets',
    'notificationsSent',
  );
  fromRealtime(
    'counter',
    'mana_sync_ws_notifications_coalesced_total',
    'Notifications merged into one still queued for a slow socket',
    'notificationsCoalesced',
  );
  fromRealtime(
    'counter',
    'mana_sync_ws_resyncs_total',
    'Times every socket was told to pull (fan-out connection lost and regained)',
    'resyncs',
  );

  return {
    registry,
    httpRequests,
    httpDuration,
    changesPushed: new Counter({
      name: 'mana_sync_changes_pushed_total',
      help: 'Changes accepted by pushes (at least one field won), by app',
      labelNames: ['app'] as const,
      registers,
    }),
    fieldsAccepted: new Counter({
      name: 'mana_sync_fields_accepted_total',
      help: 'Fields written by pushes, by app',
      labelNames: ['app'] as const,
      registers,
    }),
    conflicts: new Counter({
      name: 'mana_sync_conflicts_total',
      help: 'Pushed fields that lost to a later stored value (reported in conflicts[]), by app',
      labelNames: ['app'] as const,
      registers,
    }),
    recordsPulled: new Counter({
      name: 'mana_sync_records_pulled_total',
      help: 'Records returned by pulls, by app',
      labelNames: ['app'] as const,
      registers,
    }),
    pushesOvertaken: new Counter({
      name: 'mana_sync_pushes_overtaken_total',
      help: "Pushes merged a second time under the user's lock: another push of the same user wrote between their read and their write",
      registers,
    }),
    pushBatchSize: keyedHistogram({
      name: 'mana_sync_push_batch_size',
      help: 'Changes per push request',
      labelNames: [] as const,
      buckets: [1, 5, 10, 50, 100, 500, 1000, 5000, 10_000],
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'mana_sync_connections_refused_total',
      help: 'Connections refused with 503 TOO_MANY_CONNECTIONS: reason instance (MAX_CONNECTIONS) or address (MAX_CONNECTIONS_PER_ADDRESS)',
      labelNames: ['reason'] as const,
      registers,
    }),
    connectionsOpen: new Gauge({
      name: 'mana_sync_connections',
      help: 'Open connections of this instance (HTTP, SSE, WebSocket), counted against MAX_CONNECTIONS',
      registers,
    }),
    sseStreams: new Gauge({
      name: 'mana_sync_sse_streams',
      help: 'Open SSE streams (GET /sync/{appId}/stream)',
      registers,
    }),
    sseStreamsRefused: new Counter({
      name: 'mana_sync_sse_streams_refused_total',
      help: 'SSE streams refused with 429 TOO_MANY_STREAMS (user at SSE_MAX_STREAMS_PER_USER)',
      registers,
    }),
    sseBlocksSent: new Counter({
      name: 'mana_sync_sse_blocks_sent_total',
      help: 'changes blocks (one page of one table) written to SSE streams',
      registers,
    }),
    sseChangesSent: new Counter({
      name: 'mana_sync_sse_changes_sent_total',
      help: 'Server changes written to SSE streams, by app',
      labelNames: ['app'] as const,
      registers,
    }),
    setRealtimeSource(source) {
      realtime = source;
    },
    authFailures: new Counter({
      name: 'mana_sync_auth_failures_total',
      help: 'Failed token or service-key checks (bad signature, issuer, audience, lifetime), counted per client address against AUTH_FAIL_LIMIT',
      registers,
    }),
    authLimited: new Counter({
      name: 'mana_sync_auth_limited_total',
      help: 'Credentials refused with 429 RATE_LIMITED without a check: their client address was over AUTH_FAIL_LIMIT',
      registers,
    }),
    requestsQueued: new Counter({
      name: 'mana_sync_requests_queued_total',
      help: "Pushes and pulls that waited in their user's queue: reason concurrency (RATE_LIMIT_CONCURRENCY of the user's requests were running) or rows (the user's RATE_LIMIT_ROWS budget was spent)",
      labelNames: ['reason'] as const,
      registers,
    }),
    fanoutDelay: new Histogram({
      name: 'mana_sync_fanout_delay_seconds',
      help: "Time from a push on another instance (the oldest of its NOTIFY batch) to that batch arriving here: FANOUT_BATCH_MS, NOTIFY's round trip and the instances' clock difference",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    dbErrors: new Counter({
      name: 'mana_sync_db_errors_total',
      help: 'Failed store operations, by operation and kind (unavailable: connection or lock trouble)',
      labelNames: ['operation', 'kind'] as const,
      registers,
    }),
    dbDuration: keyedHistogram({
      name: 'mana_sync_db_transaction_duration_seconds',
      help: 'Store operation latency (a push: its read and its write, or its locked transaction), by operation',
      labelNames: ['operation'] as const,
      buckets: SECONDS,
      registers,
    }),
    appLabel(appId) {
      return knownApps.has(appId) ? appId : OTHER_APP;
    },
    appLabelWithData(appId, userId) {
      if (knownApps.has(appId)) return appId;
      if (declared || knownApps.size >= opts.maxAppLabels) return OTHER_APP;
      const introduced = introducedBy.get(userId) ?? 0;
      if (introduced >= maxNewAppsPerUser) return OTHER_APP;
      introducedBy.set(userId, introduced + 1);
      knownApps.add(appId);
      return appId;
    },
    observeRequest(method, route, status, seconds) {
      const m = METHODS.has(method) ? method : 'OTHER';
      // The key string made once per label set: building it each time, then hashing the new
      // string for the series lookup, cost more than the rest of the observation.
      let byStatus = requestKeys.get(m)?.get(route);
      if (!byStatus) {
        byStatus = [];
        const byRoute = requestKeys.get(m) ?? new Map<string, string[]>();
        requestKeys.set(m, byRoute.set(route, byStatus));
      }
      byStatus[status] ??= `${m}${KEY_SEPARATOR}${route}${KEY_SEPARATOR}${status}`;
      httpDuration.observe(byStatus[status], seconds);
    },
  };
}
