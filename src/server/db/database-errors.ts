/**
 * Why a database call failed, in one line an operator can act on.
 *
 * - Prisma's messages open with a header naming the call and put the reason last, after
 *   blank lines: "\nInvalid `prisma.$queryRawUnsafe()` invocation:\n\n\nRaw query failed.
 *   Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:5433`". The first line
 *   is empty and the first non-empty one says nothing; the reason is the quoted message.
 * - Node's connection errors can have no message at all: connecting to a host name with
 *   several addresses ("localhost") fails with an AggregateError of one error per address.
 */
export function describeDatabaseError(error: unknown): string {
  if (error instanceof AggregateError && !error.message.trim() && error.errors.length > 0) {
    return [...new Set(error.errors.map(describeDatabaseError))].join("; ");
  }
  if (!(error instanceof Error)) return String(error).trim() || "unknown error";
  const lines = error.message
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const first = lines[0];
  let reason = first !== undefined && /^Invalid `.*` invocation/.test(first) && lines.length > 1 ? lines[lines.length - 1]! : first;
  const quoted = reason === undefined ? null : /Message: `(.+)`\.?$/.exec(reason);
  if (quoted?.[1]) reason = quoted[1];
  if (!reason) {
    const code = (error as NodeJS.ErrnoException).code;
    reason = code ? `${error.name} (${code})` : error.name;
  }
  return reason.slice(0, 1000);
}
