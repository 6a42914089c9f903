import { Worker } from "node:worker_threads";
import { PermanentJobError } from "../../errors";
import type { AudioWindow, Engine, EngineFactory, EngineInfo, EngineTranscription } from "../engine";
import { fromThreadSchema, type ThreadEngineSpec, type ToThread } from "./thread-protocol";

type Reply = { kind: "result"; value: EngineTranscription } | { kind: "planned"; chunks: AudioWindow[] } | { kind: "detected"; language: string };
type Pending = { resolve: (value: Reply) => void; reject: (error: Error) => void; onProgress?: (fraction: number) => void };

/**
 * An EngineFactory whose slots live in worker threads, sessions created once in each. The
 * Engine returned here only forwards messages.
 * - An engine without sharedBatching (one transcription at a time): a thread per slot.
 * - An engine with sharedBatching (Whisper): ONE thread, one model, for every slot; each slot
 *   is a handle on it and their calls are batched together there. The thread ends when the
 *   last handle is closed.
 */
export function createThreadedEngineFactory(spec: ThreadEngineSpec): EngineFactory {
  // The first slot's thread, set before any await: slots created concurrently must not each
  // start a thread (and load a model) before learning that one would do.
  let first: Promise<Engine> | null = null;
  // Closing the last handle ends the shared thread; a slot created after that starts anew.
  const shared = { handles: 0, onLastClosed: () => (first = null) };
  return async () => {
    if (!first) {
      const starting = startEngineThread(spec);
      first = starting;
      starting.catch(() => {
        if (first === starting) first = null;
      });
      const engine = await starting;
      return engine.sharedBatching ? handleOn(engine, shared) : engine;
    }
    const engine = await first;
    return engine.sharedBatching ? handleOn(engine, shared) : startEngineThread(spec);
  };
}

/** A slot on a shared engine: its calls go to the engine; closing the last handle closes it. */
function handleOn(engine: Engine, shared: { handles: number; onLastClosed: () => void }): Engine {
  shared.handles++;
  let closed = false;
  return {
    ...engine,
    close: async () => {
      if (closed) return;
      closed = true;
      if (--shared.handles === 0) {
        shared.onLastClosed();
        await engine.close();
      }
    },
  };
}

/** Starts one engine in a worker thread and returns the Engine that forwards to it. */
async function startEngineThread(spec: ThreadEngineSpec): Promise<Engine> {
  const worker = new Worker(new URL("./thread-bootstrap.mjs", import.meta.url), {
    workerData: { entry: new URL("./engine-thread.ts", import.meta.url).href, spec },
  });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let crashed: Error | null = null;

  const ready = await new Promise<{ info: EngineInfo; canPlan: boolean; canDetect: boolean; sharedBatching: boolean }>((resolve, reject) => {
    worker.on("message", (raw: unknown) => {
      const message = fromThreadSchema.parse(raw);
      if (message.type === "ready") resolve({ info: message.info, canPlan: message.canPlan, canDetect: message.canDetect, sharedBatching: message.sharedBatching });
      else if (message.type === "init-failed") reject(new Error(message.message));
      else if (message.type === "progress") {
        try {
          pending.get(message.id)?.onProgress?.(message.fraction);
        } catch {
          // Progress is advisory.
        }
      } else {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (!waiter) return;
        if (message.type === "result") waiter.resolve({ kind: "result", value: { language: message.language, segments: message.segments, ...(message.wordTimings ? { wordTimings: message.wordTimings } : {}) } });
        else if (message.type === "planned") waiter.resolve({ kind: "planned", chunks: message.chunks });
        else if (message.type === "detected") waiter.resolve({ kind: "detected", language: message.language });
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
  /** Sends one request and waits for its reply; an abort is forwarded to the thread. */
  const request = (signal: AbortSignal, build: (id: number) => ToThread, onProgress?: (fraction: number) => void): Promise<Reply> => {
    if (crashed) return Promise.reject(new Error(`The engine thread crashed: ${(crashed as Error).message}`));
    signal.throwIfAborted();
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
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
        ...(onProgress ? { onProgress } : {}),
      });
      post(build(id));
    });
  };
  let closing: Promise<void> | null = null;
  const engine: Engine = {
    info: ready.info,
    ...(ready.sharedBatching ? { sharedBatching: true } : {}),
    async transcribe(input) {
      const { signal, chunks, onProgress, ...rest } = input;
      const reply = await request(signal, (id) => ({ type: "transcribe", id, input: { ...rest, ...(chunks ? { chunks: [...chunks] } : {}) } }), onProgress);
      if (reply.kind !== "result") throw new Error("The engine thread answered a transcription with a plan");
      return reply.value;
    },
    ...(ready.canPlan
      ? {
          async planChunks({ mediaPath, signal }: { mediaPath: string; signal: AbortSignal }) {
            const reply = await request(signal, (id) => ({ type: "plan", id, mediaPath }));
            if (reply.kind !== "planned") throw new Error("The engine thread answered a plan with a transcription");
            return reply.chunks;
          },
        }
      : {}),
    ...(ready.canDetect
      ? {
          async detectLanguage({ mediaPath, window, signal }: { mediaPath: string; window: AudioWindow; signal: AbortSignal }) {
            const reply = await request(signal, (id) => ({ type: "detect", id, mediaPath, window }));
            if (reply.kind !== "detected") throw new Error("The engine thread answered a language detection with something else");
            return reply.language;
          },
        }
      : {}),
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
}
