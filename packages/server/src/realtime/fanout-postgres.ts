import { randomUUID } from 'node:crypto';
import { type NotifyChannel, openNotifyChannel } from '../db/notify-channel.js';
import type { Logger } from '../logger.js';
import type { PushedEvent } from '../sync/pushed-event.js';
import { type Fanout, Subscribers } from './fanout.js';
import { decodePayload, encodeEvents, encodeResync } from './fanout-payload.js';
import { PendingEvents } from './pending-events.js';

/** A NOTIFY batch still unanswered after this long means a broken connection (see `flush`). */
const NOTIFY_STUCK_MS = 10_000;
/** How long shutdown waits to publish the last batch. */
const CLOSE_FLUSH_MS = 3000;

function within(p: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    p.then(done, done);
  });
}

interface PostgresFanoutOptions {
  databaseUrl: string;
  /** NOTIFY channel; every instance sharing the database and schema uses the same one. */
  channel: string;
  /** Events of this many milliseconds go out as one NOTIFY. */
  batchMs: number;
  logger: Logger;
  /** Distinct (user, app, client) keys kept while NOTIFY fails; past it, one resync replaces them. */
  maxPendingKeys?: number;
  /**
   * Called for each batch heard from another instance with its fan-out delay in seconds: from
   * the batch's oldest push there to its arrival here (batchMs, NOTIFY, clock difference).
   */
  observeDelay?: (seconds: number) => void;
}

/**
 * Fan-out over PostgreSQL LISTEN/NOTIFY, on two dedicated connections of its own
 * (db/notify-channel.ts):
 *
 *   push commits ─► publish ─► local sockets (at once)
 *                        └──► batch (batchMs) ─► pg_notify on the "notify" connection
 *   other instance's pg_notify ─► "listen" connection ─► local sockets
 *
 * Never NOTIFY inside the push transaction: a transaction with a pending NOTIFY takes a
 * database-wide lock at commit, which would serialize every push of every user. The batch is
 * sent after commit, in its own statement. When the LISTEN connection is lost it is opened
 * again with backoff; once it listens again every local socket is told to pull (`resync`),
 * because events sent meanwhile were missed. When NOTIFY fails the batch is kept (merged and
 * bounded) and retried with backoff.
 */
export async function postgresFanout(opts: PostgresFanoutOptions): Promise<Fanout> {
  const { channel, logger } = opts;
  const self = randomUUID();
  const subscribers = new Subscribers((err) => logger.error({ err: String(err) }, 'fan-out handler failed'));
  const pending = new PendingEvents(opts.maxPendingKeys ?? 10_000);
  const makeClient = () => openNotifyChannel(opts.databaseUrl, channel);
  let sql = makeClient();

  const onPayload = (text: string) => {
    const payload = decodePayload(text);
    if (!payload) {
      logger.warn({ channel }, 'ignored a NOTIFY payload that is not a fan-out batch');
      return;
    }
    if (payload.src === self) return; // delivered locally when published
    if (payload.sentAt !== undefined) opts.observeDelay?.(Math.max(0, Date.now() - payload.sentAt) / 1000);
    if (payload.resync) subscribers.resync();
    for (const event of payload.events) subscribers.event(event);
  };
  let listens = 0;
  // Runs on the first LISTEN and again after every reconnect: whatever was sent while the
  // connection was down was missed, so every local socket is told to pull.
  const onListen = () => {
    if (listens++ === 0) return;
    logger.warn({ channel }, 'fan-out LISTEN connection was lost and is back; telling every socket to pull');
    subscribers.resync();
  };
  let closing = false;

  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let notifyFailures = 0;
  /** Date.now() when the oldest event still pending was published: the batch's `at`. */
  let pendingSince: number | undefined;

  function scheduleFlush(delay: number): void {
    if (flushTimer || flushing || closing) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      flushing = flush().finally(() => {
        flushing = undefined;
        if (pending.size > 0) scheduleFlush(notifyFailures ? Math.min(5000, 100 * 2 ** notifyFailures) : 0);
      });
    }, delay);
  }

  async function flush(): Promise<void> {
    const batch = pending.take();
    const since = pendingSince;
    pendingSince = undefined;
    const payloads = batch.resync
      ? [encodeResync(self, since)]
      : encodeEvents(self, batch.events, undefined, since);
    if (payloads.length === 0) return;
    const client = sql;
    // postgres.js 3.4.9 can leave a connection that dropped mid-write unable to send again
    // (see db/postgres.ts): a NOTIFY still running after NOTIFY_STUCK_MS replaces the client.
    const stuck = setTimeout(() => replaceClient(client, 'NOTIFY did not finish'), NOTIFY_STUCK_MS);
    try {
      // One statement for the whole batch, in order; autocommit, outside any push transaction.
      await client.notify(payloads);
      if (notifyFailures > 0) logger.info({ channel }, 'fan-out NOTIFY works again');
      notifyFailures = 0;
    } catch (err) {
      if (notifyFailures++ === 0)
        logger.warn({ channel, err: String(err) }, 'fan-out NOTIFY failed; retrying');
      pending.restore(batch);
      pendingSince = Math.min(since ?? Date.now(), pendingSince ?? Number.POSITIVE_INFINITY);
    } finally {
      clearTimeout(stuck);
    }
  }

  /**
   * Swaps in a fresh client (the old one's pending statements are rejected, so a stuck flush
   * ends and is retried) and listens on it; its first LISTEN counts as a reconnect, so the
   * local sockets are told to pull.
   */
  let relistenAttempts = 0;
  function replaceClient(old: NotifyChannel, reason: string): void {
    if (closing || old !== sql) return;
    logger.warn({ channel, reason }, 'fan-out replaces its PostgreSQL connections');
    sql = makeClient();
    old.close().catch(() => {});
    const client = sql;
    const listen = () => {
      if (closing || client !== sql) return;
      client.listen(onPayload, onListen).then(
        () => {
          relistenAttempts = 0;
        },
        () => setTimeout(listen, Math.min(5000, 100 * 2 ** relistenAttempts++)),
      );
    };
    listen();
  }

  try {
    await sql.listen(onPayload, onListen);
  } catch (err) {
    await sql.close();
    throw err; // at start-up: fail loudly, like the store does
  }

  return {
    kind: 'postgres',
    publish(event: PushedEvent) {
      subscribers.event(event);
      pendingSince ??= Date.now();
      pending.add(event);
      scheduleFlush(opts.batchMs);
    },
    subscribe: (handlers) => subscribers.add(handlers),
    async close() {
      closing = true; // no new batch timers
      if (flushTimer) {
        clearTimeout(flushTimer);
        flushTimer = undefined;
      }
      // Last batch of pushes that finished while HTTP drained; bounded, a dead database must not hold shutdown.
      await within(
        (async () => {
          await flushing;
          if (pending.size > 0) await flush();
        })(),
        CLOSE_FLUSH_MS,
      );
      await sql.close();
    },
  };
}
