import { readFileSync } from 'node:fs';
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
});
