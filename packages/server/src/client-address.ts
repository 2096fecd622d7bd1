import type { IncomingMessage } from 'node:http';

/**
 * Who is on the other end of a request: the socket's address, or, behind a proxy we trust
 * (TRUST_PROXY=1), the last `X-Forwarded-For` entry. Why the last: that is the one our own
 * proxy appended (the address it saw connecting); earlier entries are whatever the client
 * sent, so a client could pick its own address to dodge a per-address limit. Without
 * TRUST_PROXY the header is ignored: anyone could send it. IPv4-mapped IPv6 (`::ffff:1.2.3.4`)
 * is shown as plain IPv4, so one client has one spelling in logs and limits.
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = req.headers['x-forwarded-for'];
    const list = Array.isArray(forwarded) ? forwarded.join(',') : forwarded;
    const last = list
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .at(-1);
    if (last) return plain(last);
  }
  return plain(req.socket.remoteAddress ?? 'unknown');
}

/** IPv4-mapped IPv6 as plain IPv4: one spelling per client. */
export function plain(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
