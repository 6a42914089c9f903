import { describeError } from "./errors";
import type { Logger } from "./logger";

/**
 * The process's last line of defence. An exception nothing caught (a library callback that
 * throws, a rejected promise nobody awaited) is logged as one line and the server keeps
 * serving: every request and job has its own error handling, so such an error belongs to
 * one request or job, and exiting would fail all the others.
 *
 * Listeners that libraries installed before us are removed: Emscripten-built modules
 * (kissfft-js) add one that rethrows, which kills the process and prints the library's
 * whole minified source as the "source line" of the crash.
 */
export function installProcessGuards(logger: Logger): void {
  process.removeAllListeners("uncaughtException");
  process.removeAllListeners("unhandledRejection");
  process.on("uncaughtException", (error, origin) => {
    logger.error("uncaught exception; still serving", { origin, error: describeError(error), at: firstFrame(error) });
  });
  process.on("unhandledRejection", (reason) => {
    logger.error("unhandled promise rejection; still serving", { error: describeError(reason), at: firstFrame(reason) });
  });
}

/** Where it was thrown (file:line), for the operator; never the whole stack. */
function firstFrame(error: unknown): string | undefined {
  if (!(error instanceof Error) || !error.stack) return undefined;
  const frame = error.stack.split("\n").find((line) => line.trimStart().startsWith("at "));
  return frame?.trim().slice(3, 300);
}
