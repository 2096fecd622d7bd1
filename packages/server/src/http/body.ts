import { SyncError } from '@mana/sync-protocol';
import type { Context } from 'hono';

/** Reads the body as JSON; `emptyAs` is returned for an empty body when given, else it is BAD_JSON. */
export async function readJson(c: Context, emptyAs?: unknown): Promise<unknown> {
  const text = await c.req.text();
  if (emptyAs !== undefined && text.trim() === '') return emptyAs;
  try {
    return JSON.parse(text);
  } catch {
    throw new SyncError('BAD_JSON', 'the body is not valid JSON');
  }
}
