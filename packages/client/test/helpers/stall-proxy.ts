import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP proxy in front of a real server that can be told to swallow pushes: the
 * request is read and never answered, like a half-dead connection or a hung load balancer.
 */
export interface StallProxy {
  url: string;
  /** While true, POSTs hang forever; other requests pass. */
  holdPushes: boolean;
  held(): number;
  close(): Promise<void>;
}

export async function startStallProxy(target: string): Promise<StallProxy> {
  const to = new URL(target);
  let held = 0;
  const hung = new Set<import('node:http').ServerResponse>();
  const state = { holdPushes: false };
  const server: Server = createServer((req, res) => {
    if (state.holdPushes && req.method === 'POST') {
      held++;
      hung.add(res);
      req.resume();
      return;
    }
    const upstream = request(
      { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get holdPushes() {
      return state.holdPushes;
    },
    set holdPushes(v: boolean) {
      state.holdPushes = v;
    },
    held: () => held,
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
