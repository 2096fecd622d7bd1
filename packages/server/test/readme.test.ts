import { readFileSync } from 'node:fs';
import { ERROR_CODES, ID_PATTERN, LIMITS } from '@mana/sync-protocol';
import { describe, expect, it } from 'vitest';
import { settingsMarkdown } from '../src/settings-markdown.js';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** Cell text row by row, so column padding (the formatter aligns tables) does not matter. */
const cells = (table: string) =>
  table
    .trim()
    .split('\n')
    .filter((line) => !/^\|[\s|:-]+\|$/.test(line))
    .map((line) => line.split('|').map((c) => c.trim()));

describe('README matches the code', () => {
  it('lists every setting exactly as config.ts declares it', () => {
    const table = /<!-- settings:start -->\n([\s\S]*?)\n<!-- settings:end -->/.exec(README)?.[1];
    expect(
      cells(table ?? ''),
      `README settings table is stale; replace it with:\n${settingsMarkdown()}`,
    ).toEqual(cells(settingsMarkdown()));
  });

  it('names the two commands that work on a fresh clone', () => {
    expect(README).toContain('npm install && npm start');
    expect(README).toContain('npm install && npm test');
  });

  it('lists every error code of the protocol in the error table, under its status', () => {
    const table = /### Errors\n[\s\S]*?\n(\| status[^\n]*\n(?:\|[^\n]*\n)*)/.exec(README)?.[1] ?? '';
    /** Status → the codes listed in its rows (`404 / 405` rows count for both). */
    const listed = new Map<number, string[]>();
    for (const row of cells(table)) {
      const [status, codes] = [row[1] ?? '', row[2] ?? ''];
      const names = [...codes.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!);
      for (const s of status.split('/')) {
        const n = Number(s.trim());
        if (n) listed.set(n, [...(listed.get(n) ?? []), ...names]);
      }
    }
    const missing = Object.entries(ERROR_CODES)
      .filter(([code, status]) => !listed.get(status)?.includes(code))
      .map(([code, status]) => `${status} ${code}`);
    expect(missing, 'README error table lacks these codes (or lists them under another status)').toEqual([]);
  });

  it('gives each identifier the pattern and length the protocol checks', () => {
    const table = /<!-- identifiers:start -->\n([\s\S]*?)\n<!-- identifiers:end -->/.exec(README)?.[1] ?? '';
    const rows = cells(table).slice(1);
    const row = (name: string) => rows.find((r) => r[1]?.includes(name)) ?? [];
    const expected: [string, RegExp, number][] = [
      ['`appId`', ID_PATTERN.appId, LIMITS.maxAppIdLength],
      ['`table`', ID_PATTERN.table, LIMITS.maxTableLength],
      ['record `id`', ID_PATTERN.id, LIMITS.maxRecordIdLength],
      ['`clientId`', ID_PATTERN.id, LIMITS.maxClientIdLength],
      ['field name', ID_PATTERN.field, LIMITS.maxFieldNameLength],
    ];
    for (const [name, pattern, max] of expected) {
      expect([name, row(name)[2], row(name)[4]]).toEqual([
        name,
        `\`${pattern.source.slice(1, -1)}\``,
        String(max),
      ]);
    }
  });
});
