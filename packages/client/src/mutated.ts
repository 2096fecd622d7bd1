import type { IntervalTree, IntervalTreeNode, ObservabilitySet } from 'dexie';

/**
 * Whether a `storagemutated` event may have written one of `keys` of a table (`prefix`:
 * `idb://<db>/<table>/`). The leader writes its cursors and acknowledged-write entries to the
 * state table with every page; rereading the shared status on each of those is a transaction
 * per page for nothing. A range bound that is not a string (a clear(), Dexie's min/max keys)
 * counts as a hit, so a doubt always rereads.
 */
export function mayHoldKeys(parts: ObservabilitySet, prefix: string, keys: readonly string[]): boolean {
  if (Object.hasOwn(parts, 'all')) return true;
  for (const [part, tree] of Object.entries(parts)) {
    if (part.startsWith(prefix) && treeMayHold(tree, keys)) return true;
  }
  return false;
}

function treeMayHold(tree: IntervalTree | null | undefined, keys: readonly string[]): boolean {
  if (!tree || tree.d === 0) return false;
  const node = tree as IntervalTreeNode;
  const { from, to } = node;
  if (typeof from !== 'string' || typeof to !== 'string') return true;
  if (keys.some((k) => from <= k && k <= to)) return true;
  return treeMayHold(node.l, keys) || treeMayHold(node.r, keys);
}
