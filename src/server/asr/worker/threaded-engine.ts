import { Worker } from "node:worker_threads";
import { PermanentJobError } from "../../errors";
import type { Engine, EngineFactory, EngineInfo, EngineTranscription } from "../engine";
import { fromThreadSchema, type ThreadEngineSpec, type ToThread } from "./thread-protocol";

type Pending = { resolve: (value: EngineTranscription) => void; reject: (error: Error) => void };

/**
 * An EngineFactory whose slots each live in their own worker thread (one thread per slot,
 * sessions created once in it). The Engine returned here only forwards messages.
 */
export function createThreadedEngineFactory(spec: ThreadEngineSpec): EngineFactory {
  return async () => {
    const worker = new Worker(new URL("./thread-bootstrap.mjs", import.meta.url), {
      workerData: { entry: new URL("./engine-thread.ts", import.meta.url).href, spec },
    });
    const pending = new Map<number, Pending>();
    let nextId = 1;
    let crashed: Error | null = null;

    const info = await new Promise<EngineInfo>((resolve, reject) => {
      worker.on("message", (raw: unknown) => {
        const message = fromThreadSchema.parse(raw);
        if (message.type === "ready") resolve(message.info);
        else if (message.type === "init-failed") reject(new Error(message.message));
        else {
          const waiter = pending.get(message.id);
          pending.delete(message.id);
          if (!waiter) return;
          if (message.type === "result") waiter.resolve({ language: message.language, segments: message.segments });
          else waiter.reject(message.permanent ? new PermanentJobError(message.message) : new Error(message.message));
        }
      });
      worker.once("error", (error) => {
        crashed = error;
        reject(error);
        for (const waiter of pending.values()) waiter.reject(new Error(`The engine thread crashed: ${error.message}`));
        pending.clear();
      });
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });

    const post = (message: ToThread) => worker.postMessage(message);
    let closing: Promise<void> | null = null;
    const engine: Engine = {
      info,
      transcribe(input) {
        if (crashed) return Promise.reject(new Error(`The engine thread crashed: ${(crashed as Error).message}`));
        const id = nextId++;
        const { signal, ...rest } = input;
        signal.throwIfAborted();
        return new Promise<EngineTranscription>((resolve, reject) => {
          const onAbort = () => post({ type: "abort", id });
          signal.addEventListener("abort", onAbort, { once: true });
          pending.set(id, {
            resolve: (value) => {
              signal.removeEventListener("abort", onAbort);
              resolve(value);
            },
            reject: (error) => {
              signal.removeEventListener("abort", onAbort);
              reject(signal.aborted ? (signal.reason as Error) : error);
            },
          });
          post({ type: "transcribe", id, input: rest });
        });
      },
      close() {
        closing ??= (async () => {
          post({ type: "close" });
          const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
          const timeout = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
          await Promise.race([exited, timeout]);
          await worker.terminate();
        })();
        return closing;
      },
    };
    return engine;
  };
}
