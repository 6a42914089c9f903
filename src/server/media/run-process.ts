import { access, constants as fsConstants, stat } from "node:fs/promises";
import path from "node:path";
import { launchProcess } from "./process-launcher";

/**
 * Spawning helper shared by the media and engine modules. Every child is killed (SIGKILL)
 * when the caller's signal aborts or the timeout passes, so no subprocess can outlive the
 * job that started it, and stderr is kept as a bounded tail because ffmpeg and pocketsphinx
 * log without limit on long inputs. Programs are started by the process launcher
 * (process-launcher.ts), not forked from this process: an upload's ffprobe, a conversion or
 * a PocketSphinx run would otherwise leave a Whisper engine's pages in the same process
 * copy-on-write, to be faulted in one by one.
 */

export type RunProcessOptions = {
  /** Wall-clock limit in ms; the child is killed when it passes. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** "capture" buffers stdout (up to `maxStdoutBytes`); "ignore" discards it. Default "ignore". */
  stdout?: "capture" | "ignore";
  /** Called for each complete stdout line (without the newline); works with either mode. */
  onStdoutLine?: (line: string) => void;
  /** Called for each complete stderr line (ffmpeg's \r progress lines count as lines). */
  onStderrLine?: (line: string) => void;
  /** Limit of captured stdout in bytes; exceeding it kills the child. Default 16 MiB. */
  maxStdoutBytes?: number;
  /** How many bytes of the end of stderr to keep. Default 8 KiB. */
  stderrTailBytes?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
};

export type RunProcessResult = {
  /** Exit code, or null when the child died of a signal. */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** Captured stdout (utf8); empty unless `stdout: "capture"`. */
  stdout: string;
  /** The last `stderrTailBytes` of stderr (utf8). */
  stderrTail: string;
  /** Run time in ms. */
  durationMs: number;
};

export type ProcessFailureKind = "spawn-failed" | "timeout" | "stdout-too-large";

/** The child could not be run to completion for a reason other than its own exit status. */
export class ProcessError extends Error {
  readonly kind: ProcessFailureKind;
  readonly command: string;
  readonly stderrTail: string;

  constructor(kind: ProcessFailureKind, command: string, message: string, stderrTail = "", cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "ProcessError";
    this.kind = kind;
    this.command = command;
    this.stderrTail = stderrTail;
  }
}

const DEFAULT_MAX_STDOUT_BYTES = 16 * 1024 * 1024;
const DEFAULT_STDERR_TAIL_BYTES = 8 * 1024;

/** The error an aborted run rejects with: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException(typeof reason === "string" ? reason : "The operation was aborted", "AbortError");
}

/**
 * Runs `command args` to completion. Resolves with the exit status whatever it is (callers
 * decide what a non-zero status means); rejects with ProcessError when the binary cannot be
 * spawned, the timeout passes or stdout overflows, and with the abort reason on abort.
 */
export function runProcess(command: string, args: readonly string[], options: RunProcessOptions): Promise<RunProcessResult> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  const maxStdout = options.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES;
  const tailBytes = options.stderrTailBytes ?? DEFAULT_STDERR_TAIL_BYTES;
  const captureStdout = options.stdout === "capture";
  const startedAt = Date.now();

  return new Promise<RunProcessResult>((resolve, reject) => {
    const child = launchProcess(command, args, { cwd: options.cwd, env: options.env });

    let settled = false;
    let failure: Error | undefined;
    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrTail = Buffer.alloc(0);
    const stdoutLines = options.onStdoutLine ? lineSplitter(options.onStdoutLine) : undefined;
    const stderrLines = options.onStderrLine ? lineSplitter(options.onStderrLine) : undefined;

    const kill = (error: Error): void => {
      failure ??= error;
      // A no-op once the program has ended.
      child.kill("SIGKILL");
    };
    const onAbort = (): void => kill(abortReason(signal as AbortSignal));
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => {
      kill(new ProcessError("timeout", command, `${path.basename(command)} did not finish within ${options.timeoutMs} ms and was killed`, stderrTail.toString("utf8")));
    }, options.timeoutMs);
    timer.unref?.();

    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };

    child.stdout.on("data", (chunk: Buffer) => {
      if (failure) return;
      stdoutLines?.push(chunk);
      if (!captureStdout) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdout) {
        kill(new ProcessError("stdout-too-large", command, `${path.basename(command)} wrote more than ${maxStdout} bytes to stdout and was killed`));
        return;
      }
      stdoutChunks.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderrLines?.push(chunk);
      stderrTail = Buffer.concat([stderrTail, chunk]);
      if (stderrTail.length > tailBytes) stderrTail = stderrTail.subarray(stderrTail.length - tailBytes);
    });

    child.once("error", (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      cleanup();
      const message =
        error.code === "ENOENT"
          ? `${command} not found`
          : `${path.basename(command)} could not be started: ${error.message}`;
      reject(failure ?? new ProcessError("spawn-failed", command, message, "", error));
    });

    // "close" (not "exit") so every stdout/stderr byte has been delivered before we resolve.
    child.once("close", (exitCode, exitSignal) => {
      if (settled) return;
      settled = true;
      cleanup();
      stdoutLines?.end();
      stderrLines?.end();
      if (failure) {
        reject(failure);
        return;
      }
      resolve({
        exitCode,
        exitSignal,
        stdout: captureStdout ? Buffer.concat(stdoutChunks).toString("utf8") : "",
        stderrTail: stderrTail.toString("utf8"),
        durationMs: Date.now() - startedAt,
      });
    });
  });
}

/** Splits a byte stream into lines at \n or \r; a line longer than 64 KiB is cut. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  const MAX_LINE = 64 * 1024;
  let pending = "";
  const emit = (line: string): void => {
    if (line.length > 0) onLine(line);
  };
  return {
    push(chunk) {
      pending += chunk.toString("utf8");
      const parts = pending.split(/\r\n|\n|\r/);
      pending = parts.pop() ?? "";
      for (const part of parts) emit(part);
      if (pending.length > MAX_LINE) {
        emit(pending.slice(0, MAX_LINE));
        pending = "";
      }
    },
    end() {
      emit(pending);
      pending = "";
    },
  };
}

/** The last non-empty line of a stderr tail, for error messages. */
export function lastLine(text: string): string {
  const lines = text.split(/\r\n|\n|\r/).map((line) => line.trim()).filter((line) => line.length > 0);
  return lines[lines.length - 1] ?? "";
}

/**
 * Resolves a bare command name against PATH (like `which`), or checks an explicit path.
 * Returns the absolute path of an executable file, or null.
 */
export async function findExecutable(nameOrPath: string, envPath = process.env.PATH ?? ""): Promise<string | null> {
  if (nameOrPath.includes("/") || nameOrPath.includes(path.sep)) {
    const absolute = path.resolve(nameOrPath);
    return (await isExecutable(absolute)) ? absolute : null;
  }
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, nameOrPath);
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    // access(X_OK) alone is true for directories too.
    if (!(await stat(file)).isFile()) return false;
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
