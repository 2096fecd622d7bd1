import type { Logger } from '../logger.js';
import { type Fanout, Subscribers } from './fanout.js';

/** In process only: one instance (the embedded PGlite store, or a single server). */
export function localFanout(logger: Logger): Fanout {
  const subscribers = new Subscribers((err) => logger.error({ err: String(err) }, 'fan-out handler failed'));
  return {
    kind: 'local',
    publish: (event) => subscribers.event(event),
    subscribe: (handlers) => subscribers.add(handlers),
    close: async () => {},
  };
}
