/**
 * One error family for the whole control plane and the workers. Every error a user can
 * see is an AppError with a stable `code`; adapters map codes to HTTP statuses and tRPC
 * codes (see `httpStatusOf`), so nobody ever receives a stack trace.
 */
export type AppErrorCode =
  | "BAD_REQUEST"
  | "NOT_FOUND"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA"
  | "BUSY"
  | "INSUFFICIENT_STORAGE"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "TIMEOUT"
  | "INTERNAL";

export class AppError extends Error {
  readonly code: AppErrorCode;
  /** Extra fields an adapter may add to its error body (for example a job's current status). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: AppErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.details = details;
  }
}

/**
 * Input that will fail the same way however often it is retried (corrupt audio, a silent
 * file, an unsupported language for the engine). Jobs failing with it are not retried.
 */
export class PermanentJobError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("UNSUPPORTED_MEDIA", message, details);
    this.name = "PermanentJobError";
  }
}

const HTTP_STATUS: Record<AppErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA: 415,
  BUSY: 503,
  INSUFFICIENT_STORAGE: 507,
  TIMEOUT: 504,
  INTERNAL: 500,
};

export function httpStatusOf(error: AppError): number {
  return HTTP_STATUS[error.code];
}

export function isPermanent(error: unknown): boolean {
  return error instanceof PermanentJobError;
}

/** A message safe to show a user: AppError messages verbatim, anything else generic. */
export function publicMessageOf(error: unknown): string {
  if (error instanceof AppError) return error.message;
  return "Internal error";
}

/**
 * A one-line description for logs, `lastError` and /live, never a stack trace: the first line
 * that says something.
 *
 * - Prisma's messages open with a header naming the call and put the reason last, after
 *   blank lines: "\nInvalid `prisma.$queryRawUnsafe()` invocation:\n\n\nRaw query failed.
 *   Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:5433`". The reason is the
 *   quoted message.
 * - Node's connection errors can have no message at all: connecting to a host name with
 *   several addresses ("localhost") fails with an AggregateError of one error per address.
 */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && !error.message.trim() && error.errors.length > 0) {
    return [...new Set(error.errors.map(describeError))].join("; ").slice(0, 2000);
  }
  if (!(error instanceof Error)) return String(error).trim().slice(0, 2000) || "unknown error";
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
  return reason.slice(0, 2000);
}
