import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import * as protocol from '../src/index.js';

/**
 * Pins the wire format. If this fails you changed a wire message: bump PROTOCOL_VERSION,
 * add a dated line to PROTOCOL_HISTORY (src/version.ts), and update the hash below.
 */
const PINNED: Record<number, string> = {
  1: '569b1635e3968551',
  2: '8f3c539d1ad04a46',
  3: '52ecde6e2b3ce46b',
  4: '222dfe5c12cdc09f',
  5: '072e685896fbba18',
  6: '1e62c8bf7611781e',
};

function wireHash(): string {
  const schemas = Object.entries(protocol)
    .filter(([name]) => name.endsWith('Schema'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, schema]) => [
      name,
      z.toJSONSchema(schema as z.ZodType, { io: 'input', unrepresentable: 'any' }),
    ]);
  const wire = {
    schemas,
    constants: [
      protocol.HEADER,
      protocol.QUERY,
      protocol.ROUTE,
      protocol.WS_MESSAGE,
      protocol.WS_CLOSE,
      protocol.LIMITS,
      protocol.ERROR_CODES,
      protocol.SUPPORTED_SCHEMA_VERSION,
    ],
  };
  return createHash('sha256').update(JSON.stringify(wire)).digest('hex').slice(0, 16);
}

describe('protocol version', () => {
  it('matches the pinned hash of every wire schema', () => {
    expect(wireHash(), `wire changed: bump PROTOCOL_VERSION (now ${protocol.PROTOCOL_VERSION})`).toBe(
      PINNED[protocol.PROTOCOL_VERSION],
    );
  });

  it('has a dated history line for the current version', () => {
    const last = protocol.PROTOCOL_HISTORY.at(-1)!;
    expect(last.version).toBe(protocol.PROTOCOL_VERSION);
    expect(last.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });
});
