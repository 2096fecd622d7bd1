import { describe, expect, it } from 'vitest';
import { appIdSchema, tableNameSchema } from '../src/ids.js';
import { parsePushRequest } from '../src/push-check.js';

const at = '2024-01-01T10:00:00Z';

/** The first issue of a push with one change, as the server reports it: path and message. */
function firstIssue(change: Record<string, unknown>): { path: string; message: string } | undefined {
  const body = JSON.parse(JSON.stringify({ clientId: 'c1', changes: [{ table: 't', id: 'r1', ...change }] }));
  const r = parsePushRequest(body);
  const issue = r.error?.issues[0];
  return issue && { path: issue.path.join('.'), message: issue.message };
}

describe('identifier rules and their messages', () => {
  it('a refused field name is named in the message, with the rule, in fields and in data', () => {
    const rule = 'letters, digits, "_", "$", "." and "-", starting with a letter, "_" or "$"';
    expect(firstIssue({ op: 'update', fields: { '1f': { value: 1, updatedAt: at } } })).toEqual({
      path: 'changes.0.fields.1f',
      message: `field name "1f": ${rule}`,
    });
    for (const key of ['1f', '-x', '.x', 'a b']) {
      expect(firstIssue({ op: 'insert', data: { [key]: 1 } })).toEqual({
        path: `changes.0.data.${key}`,
        message: `field name ${JSON.stringify(key)}: ${rule}`,
      });
    }
  });

  it('a reserved or too long field name says so', () => {
    const reserved = 'reserved (__proto__, constructor and prototype are refused)';
    expect(firstIssue({ op: 'insert', data: { constructor: 1 } })?.message).toBe(
      `field name "constructor": ${reserved}`,
    );
    const body = JSON.parse(
      `{"clientId":"c1","changes":[{"table":"t","id":"r1","op":"insert","data":{"__proto__":1}}]}`,
    );
    expect(parsePushRequest(body).error?.issues[0]?.message).toBe(`field name "__proto__": ${reserved}`);
    const long = 'x'.repeat(129);
    expect(firstIssue({ op: 'insert', data: { [long]: 1 } })?.message).toBe(
      `field name "${'x'.repeat(40)}…": at most 128 characters`,
    );
  });

  it('field names may start with a letter, "_" or "$"', () => {
    expect(firstIssue({ op: 'insert', data: { a1: 1, _b: 2, $c: 3, 'd.e-f': 4 } })).toBeUndefined();
  });

  it('tables start with a letter or "_", app ids with a letter or digit', () => {
    for (const t of ['1abc', '.x', '-x']) expect(tableNameSchema.safeParse(t).success).toBe(false);
    for (const t of ['abc', '_x', 'a.b-c_1']) expect(tableNameSchema.safeParse(t).success).toBe(true);
    expect(tableNameSchema.safeParse('t'.repeat(129)).success).toBe(false);
    expect(appIdSchema.safeParse('_app').success).toBe(false);
    for (const a of ['app', '1app', 'a_b-c']) expect(appIdSchema.safeParse(a).success).toBe(true);
    expect(appIdSchema.safeParse('a'.repeat(65)).success).toBe(false);
  });
});
