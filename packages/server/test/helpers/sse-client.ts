import { type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';

/** One block of the stream as the Mana web app reads it. */
export interface SseEvent {
  type: string;
  data: string;
}

/**
 * `GET /sync/{appId}/stream` over node:http, parsed the way the Mana web app's sync engine
 * parses it: the text is split on "\n\n"; in a block, a line starting with "event: " sets the
 * type and one starting with "data: " sets the data (the last one wins, so data that spans
 * two lines would lose its first). node:http rather than fetch: a test can stop reading
 * (`pause`) and the server then sees a full socket.
 */
export interface SseClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** The whole body of a non-200 answer. */
  body: string;
  /** The next block (in arrival order); rejects after `timeoutMs` or when the stream ended first. */
  next(timeoutMs?: number): Promise<SseEvent>;
  /** Resolves when the server ends the stream (or the connection closes). */
  ended: Promise<void>;
  /** Stops reading from the socket, like a reader that cannot keep up. */
  pause(): void;
  resume(): void;
  /** The client goes away. */
  close(): void;
}

export interface StreamRequest {
  token?: string | undefined;
  clientId?: string | undefined;
  /** Query string (without `?`), or its parts. */
  query: string | Record<string, string>;
  headers?: Record<string, string>;
  method?: string;
}

export function openSse(baseUrl: string, appId: string, r: StreamRequest): Promise<SseClient> {
  const query = typeof r.query === 'string' ? r.query : new URLSearchParams(r.query).toString();
  const url = new URL(`${baseUrl}/sync/${appId}/stream?${query}`);
  const headers: Record<string, string> = { accept: 'text/event-stream', ...r.headers };
  if (r.token) headers.authorization = `Bearer ${r.token}`;
  if (r.clientId) headers['x-client-id'] = r.clientId;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: r.method ?? 'GET', headers }, (res) => resolve(client(res)));
    req.on('error', reject);
    req.end();
  });
}

function client(res: IncomingMessage): Promise<SseClient> | SseClient {
  if (res.statusCode !== 200) {
    return new Promise((resolve) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(closedClient(res, body)));
    });
  }
  const inbox: SseEvent[] = [];
  const waiters: Array<{ resolve: (e: SseEvent) => void; reject: (err: Error) => void }> = [];
  let buffer = '';
  let done = false;
  const ended = new Promise<void>((resolve) => {
    const finish = () => {
      done = true;
      for (const w of waiters.splice(0)) w.reject(new Error('the stream ended'));
      resolve();
    };
    res.on('end', finish);
    res.on('close', finish);
    res.on('error', finish);
  });
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    const parts = buffer.split('\n\n');
    buffer = parts.pop()!;
    for (const part of parts) {
      let type = '';
      let data = '';
      for (const line of part.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data = line.slice(6);
      }
      const waiter = waiters.shift();
      if (waiter) waiter.resolve({ type, data });
      else inbox.push({ type, data });
    }
  });
  const next = (timeoutMs = 5000) =>
    new Promise<SseEvent>((resolve, reject) => {
      const queued = inbox.shift();
      if (queued) return resolve(queued);
      if (done) return reject(new Error('the stream ended'));
      const waiter = {
        resolve: (e: SseEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`no block within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  return {
    status: 200,
    headers: res.headers,
    body: '',
    next,
    ended,
    pause: () => res.pause(),
    resume: () => res.resume(),
    close: () => res.destroy(),
  };
}

function closedClient(res: IncomingMessage, body: string): SseClient {
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    body,
    next: () => Promise.reject(new Error(`not a stream: ${res.statusCode} ${body}`)),
    ended: Promise.resolve(),
    pause: () => {},
    resume: () => {},
    close: () => {},
  };
}
