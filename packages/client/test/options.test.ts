import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SyncClientOptions } from '../src/client-types.js';
import { DEFAULTS, resolveOptions } from '../src/options.js';

const README = new URL('../README.md', import.meta.url);

/** `| \`a\` / \`b\` | 0 / 5000 | … |` rows of the README's options table, as name → default. */
function documentedDefaults(): Map<string, unknown> {
  const md = readFileSync(README, 'utf8');
  const section = md.slice(md.indexOf('## Options'));
  const table = section.slice(0, section.search(/\n\n(?!\|)/));
  const out = new Map<string, unknown>();
  // The header and its rule first, then one row per option (or per pair of options).
  for (const line of table
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .slice(2)) {
    const [names = '', values = ''] = line
      .split('|')
      .slice(1, 3)
      .map((c) => c.trim());
    const keys = names.split(' / ').map((n) => n.replace(/`/g, ''));
    const vals = values.split(' / ');
    for (const [i, key] of keys.entries()) out.set(key, parseValue(vals[i] ?? ''));
  }
  return out;
}

function parseValue(text: string): unknown {
  const t = text.replace(/`/g, '').trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (t.startsWith('{')) return JSON.parse(t.replace(/(\w+):/g, '"$1":'));
  return t;
}

const base: SyncClientOptions = {
  url: 'http://localhost:1',
  appId: 'todo',
  tables: ['todos'],
  getToken: () => 'token',
};

describe('client options', () => {
  it('documents in the README the defaults the client uses', () => {
    const documented = documentedDefaults();
    // Every client option with a default has a row; stop()'s flushTimeoutMs is told in the prose.
    const { flushTimeoutMs: _, ...clientDefaults } = DEFAULTS;
    for (const [key, value] of Object.entries(clientDefaults)) {
      expect(documented.has(key), `README options table lacks ${key}`).toBe(true);
      expect(documented.get(key), key).toEqual(value);
    }
    // The rows without a number are the ones read from the environment (global fetch, WebSocket).
    for (const key of documented.keys()) {
      if (!(key in DEFAULTS)) expect(['WebSocket', 'fetch']).toContain(key);
    }
  });

  it('fills in what is missing and keeps what is given, zero included', () => {
    const filled = resolveOptions(base);
    const { flushTimeoutMs: _, ...clientDefaults } = DEFAULTS;
    expect(filled).toEqual({ ...base, ...clientDefaults });

    const given = {
      ...base,
      pushDebounceMs: 0,
      pushMaxWaitMs: 0,
      pushBatchSize: 7,
      pullLimit: 9,
      pullIntervalMs: 0,
      stallTimeoutMs: 0,
      requestTimeoutMs: 0,
      tokenRefreshMarginMs: 0,
      multiTab: 'off',
      retryBackoff: { baseMs: 0, maxMs: 0 },
      leaderLeaseMs: 1500,
    } satisfies SyncClientOptions;
    expect(resolveOptions(given)).toEqual(given);
    // One part given, the other filled in.
    expect(resolveOptions({ ...base, retryBackoff: { maxMs: 2000 } }).retryBackoff).toEqual({
      baseMs: 1000,
      maxMs: 2000,
    });
  });

  it('takes a zero lease for the default one (no lease would mean a leader per tick)', () => {
    expect(resolveOptions({ ...base, leaderLeaseMs: 0 }).leaderLeaseMs).toBe(DEFAULTS.leaderLeaseMs);
  });
});
