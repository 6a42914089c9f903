/**
 * Process lifecycle shared by the benchmarks: every child process and temp resource a bench
 * creates goes away on exit, including Ctrl-C, and a failure ends the run with code 1.
 */
import type { ChildProcess } from "node:child_process";

const children = new Set<ChildProcess>();
const cleanups = new Set<() => Promise<void>>();
/** Set on Ctrl-C: the failures the killed children cause in the main flow are expected then. */
let interrupted = false;
let cleaning: Promise<void> = Promise.resolve();

/** Kills `child` with the others on Ctrl-C, a crash or a failed run. */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once("exit", () => children.delete(child));
}

export function killChildren(): void {
  for (const child of children) child.kill("SIGKILL");
}

/** Registers a cleanup to run on exit; a caller that cleans up itself removes it first. */
export function addCleanup(cleanup: () => Promise<void>): void {
  cleanups.add(cleanup);
}

export function removeCleanup(cleanup: () => Promise<void>): void {
  cleanups.delete(cleanup);
}

/**
 * Runs the pending cleanups once. Chained, so a caller that arrives while a cleanup is in
 * flight (Ctrl-C, and the failure it causes in the main flow) waits for it before exiting.
 */
export function runCleanups(): Promise<void> {
  const pending = [...cleanups];
  cleanups.clear();
  cleaning = cleaning.then(async () => {
    await Promise.allSettled(pending.map((cleanup) => cleanup()));
  });
  return cleaning;
}

function installExitHandlers(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    // Stay subscribed: npx and tsx relay the same Ctrl-C again, and without a listener the
    // repeat would end the process before the temp folders (or the database) are removed.
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping child processes\n`);
    killChildren();
    void runCleanups().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Last resort for crashes: 'exit' handlers must be synchronous, so only kill here.
  process.once("exit", killChildren);
}

/** Runs a bench's main with the exit handlers installed; a failure cleans up and exits 1. */
export function runBench(name: string, main: () => Promise<void>): void {
  installExitHandlers();
  main().catch(async (error: unknown) => {
    // After Ctrl-C the signal handler owns cleanup and the exit code.
    if (interrupted) return;
    process.stderr.write(`${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    killChildren();
    await runCleanups();
    process.exit(1);
  });
}
