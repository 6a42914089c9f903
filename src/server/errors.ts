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

/** A one-line description for logs and `lastError`, never a stack trace. */
export function describeError(error: unknown): string {
  // The first line that says something: some clients (Prisma's) start their messages with a
  // blank line, and an empty reason is no reason.
  const text = error instanceof Error ? error.message : String(error);
  const line = text
    .split("\n")
    .map((part) => part.trim())
    .find((part) => part.length > 0);
  return (line ?? (error instanceof Error ? error.name : "unknown error")).slice(0, 2000);
}
