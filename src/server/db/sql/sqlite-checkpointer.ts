import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * The thread's code, plain JavaScript (a worker evaluated from a string needs no loader).
 * PASSIVE never waits for readers or writers: it copies what it can and tries again later.
 */
const THREAD = `
const { workerData, parentPort } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 1000");
const checkpoint = () => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export type Checkpointer = { close(): Promise<void> };

/**
 * Moves SQLite's WAL checkpoints off the event loop. A checkpoint copies the log into the
 * database file and syncs it; run automatically it happens inside whichever commit crosses
 * the threshold, stalling every request behind it for the length of a disk sync. Here a
 * worker thread with its own connection checkpoints every `intervalMs`, and the hot-path
 * connection turns automatic checkpoints off.
 */
export function startCheckpointer(file: string, opts: { intervalMs: number; onError: (message: string) => void }): Checkpointer {
  const module = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(THREAD, { eval: true, workerData: { file, module, intervalMs: opts.intervalMs } });
  worker.unref();
  worker.on("message", (message: { error?: string }) => {
    if (message.error) opts.onError(message.error);
  });
  worker.on("error", (error) => opts.onError(error.message));
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= (async () => {
        // Unreferenced while it works in the background; waited for now, so referenced again.
        worker.ref();
        worker.postMessage("close");
        await exited;
      })();
      return closing;
    },
  };
}
