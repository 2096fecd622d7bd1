/**
 * Lets the host run other tasks: `scheduler.yield()` where there is one, else `setImmediate`
 * (Node) or a MessageChannel message. Not a 0 ms timer: Node makes it 1 ms and browsers 4 ms
 * once nested, paid on every pulled page, a lone write's included.
 */
export function yieldToHost(): Promise<unknown> {
  const g = globalThis as {
    scheduler?: { yield?: () => Promise<unknown> };
    setImmediate?: (f: () => void) => unknown;
  };
  if (g.scheduler?.yield) return g.scheduler.yield();
  if (g.setImmediate) return new Promise<void>((r) => g.setImmediate!(r));
  if (typeof MessageChannel === 'function') {
    return new Promise<void>((r) => {
      const { port1, port2 } = new MessageChannel();
      port1.onmessage = () => {
        port1.close();
        r();
      };
      port2.postMessage(null);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}
