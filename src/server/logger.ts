import { writeSync } from "node:fs";

/** Structured one-line JSON logs for operators; every job-related line carries `jobId`. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type Logger = {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
};

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * Lines written to a file descriptor together, once per turn of the event loop: on Linux a
 * write to a pipe is synchronous, so a line per job at hundreds of jobs a second would cost
 * a system call each, in the middle of request handling. Whatever is pending is written
 * synchronously when the process exits (a SIGKILL loses at most the current turn's lines).
 */
export function batchedWriter(stream: NodeJS.WriteStream & { fd: number }): (line: string) => void {
  let pending: string[] = [];
  const take = () => {
    const text = pending.join("\n") + "\n";
    pending = [];
    return text;
  };
  process.on("exit", () => {
    if (pending.length === 0) return;
    try {
      writeSync(stream.fd, take());
    } catch {
      // Exiting with a closed or full stream: the last lines are lost, the exit goes on.
    }
  });
  return (line) => {
    if (pending.push(line) === 1) setImmediate(() => pending.length && stream.write(take()));
  };
}

let stderrWriter: ((line: string) => void) | null = null;

/** A logger at `level`, writing to stderr in batches (or to `write`, a line at a time). */
export function createLogger(level: LogLevel, write?: (line: string) => void): Logger {
  const sink = write ?? (stderrWriter ??= batchedWriter(process.stderr));
  const at = (lineLevel: Exclude<LogLevel, "silent">) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[lineLevel] < ORDER[level]) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: lineLevel, msg: message, ...fields }));
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
