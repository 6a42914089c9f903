// src/shared/: small pure functions (no Node or DOM APIs) that the dashboard, the CLI and
// the server can all import.

/** Runs `work` over `items` in order with at most `limit` in flight; resolves when all are done. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}
