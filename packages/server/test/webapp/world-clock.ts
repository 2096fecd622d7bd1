/**
 * Seeded randomness and the field times of a conformance history. Every write gets an ISO
 * millisecond time from one world clock that only moves forward, so no client ever writes a
 * field with a time older than one it already holds (the web app's wall clock does that under
 * skew, and LWW then keeps the older write on that device alone: a limit of the protocol, not
 * what this suite is about). Equal-millisecond ties between two clients are made on purpose,
 * only while the first write is still unpushed, so neither writer has seen the other's.
 */

/** mulberry32: a small, fast, seedable PRNG in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

export const iso = (ms: number): string => new Date(ms).toISOString();

export interface LastWrite {
  client: number;
  ms: number;
  table: string;
  id: string;
  fields: string[];
  /** Still in its writer's outbox. */
  unpushed: boolean;
}

export class WorldClock {
  private ms: number;
  last: LastWrite | null = null;
  /** Each client's latest write time: its own writes never share a millisecond. */
  private readonly own = new Map<number, number>();

  /** `base`: tick 0 in epoch ms; keep it in the past so the server's skew clamp never applies. */
  constructor(
    private readonly r: () => number,
    base: number,
    private readonly tieRate = 0.2,
  ) {
    this.ms = base;
  }

  /** A tie with the last write is possible for `client` now: then `tie()` returns that write. */
  tie(client: number): LastWrite | null {
    const l = this.last;
    if (!l || l.client === client || !l.unpushed || (this.own.get(client) ?? 0) >= l.ms) return null;
    return this.r() < this.tieRate ? l : null;
  }

  /** The time of the next write: the tied write's, or a step forward. */
  next(tied: LastWrite | null): number {
    if (tied) return tied.ms;
    this.ms += 1 + Math.floor(this.r() * 3);
    return this.ms;
  }

  wrote(w: LastWrite): void {
    this.last = w;
    this.own.set(w.client, w.ms);
  }

  /** A client pushed: its last write is no longer a candidate for a tie. */
  pushed(client: number): void {
    if (this.last?.client === client) this.last.unpushed = false;
  }
}
