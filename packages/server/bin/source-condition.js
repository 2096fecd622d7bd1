// A module resolve hook that adds the "source" export condition: workspace packages
// (@mana/sync-protocol) then resolve to their TypeScript sources, which tsx runs, instead of
// their build (dist/, made only for publishing). Same as `node --conditions=source`, but it
// holds however the bin is started (npx, npm start, the Dockerfile, a test's spawn).
export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes('source')
    ? context.conditions
    : ['source', ...context.conditions];
  return nextResolve(specifier, { ...context, conditions });
}
