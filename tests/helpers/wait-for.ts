/**
 * Resolves with the first value `probe` gives that is not undefined, checking every
 * `intervalMs`; throws naming `what` after `timeoutMs`. For conditions only observable from
 * outside (another process's database rows or log lines), where there is no event to await.
 */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
