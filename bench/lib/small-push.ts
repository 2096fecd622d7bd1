import type { HttpPushJob, Timing } from '../load/jobs.js';

/**
 * The small push of the request-path figures: one change a request on `workers` connections,
 * no cursor (the store answers at once, or it is the echo). Shared by the scenario and its
 * tools, so they all measure the same request.
 */
export function smallPushJob(
  port: number,
  tokens: string[],
  runId: string,
  timing: Timing,
  workers = 8,
): HttpPushJob {
  return {
    kind: 'http-push',
    port,
    workers,
    appId: 'bench',
    tokens,
    batch: 1,
    trackCursor: false,
    runId,
    ...timing,
  };
}
