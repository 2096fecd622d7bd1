import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The client's files import one way (README, "Inside the client"): the sync loop knows nothing
 * of the parts that start it, and nothing but the package's face imports the wiring.
 */
const SRC = new URL('../src/', import.meta.url);
const files = readdirSync(SRC).filter((f) => f.endsWith('.ts'));
const importsOf = (text: string) => [...text.matchAll(/from '\.\/([\w-]+)\.js'/g)].map((m) => `${m[1]}.ts`);
const graph = new Map(files.map((f) => [f, importsOf(readFileSync(new URL(f, SRC), 'utf8'))]));

/** The parts that start and stop the loop, and the wiring above them. */
const ABOVE_THE_LOOP = ['client.ts', 'leader-term.ts', 'scheduler.ts', 'tab-state.ts', 'local-data.ts'];

function cycles(g: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, path: string[]) => {
    state.set(file, 'open');
    for (const next of g.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(file, 'done');
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f, [f]);
  return found;
}

describe('client imports', () => {
  it('have no cycle, type imports included', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('the cycle check sees one', () => {
    expect(
      cycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', ['a.ts']],
        ]),
      ),
    ).toEqual([['a.ts', 'b.ts', 'a.ts']]);
  });

  it('the sync loop and what it uses never import the parts that start it', () => {
    const below = files.filter((f) => !ABOVE_THE_LOOP.includes(f) && f !== 'index.ts');
    const upward = below.flatMap((f) =>
      graph
        .get(f)!
        .filter((i) => ABOVE_THE_LOOP.includes(i))
        .map((i) => `${f} -> ${i}`),
    );
    expect(upward).toEqual([]);
  });

  it('only index.ts imports client.ts', () => {
    expect(files.filter((f) => graph.get(f)!.includes('client.ts'))).toEqual(['index.ts']);
  });
});
