import { Worker } from "node:worker_threads";
import { PermanentJobError } from "../../errors";
import type { AudioWindow, Engine, EngineFactory, EngineInfo, EngineTranscription } from "../engine";
import { fromThreadSchema, type ThreadEngineSpec, type ToThread } from "./thread-protocol";

type Reply = { kind: "result"; value: EngineTranscription } | { kind: "planned"; chunks: AudioWindow[] } | { kind: "detected"; language: string };
type Pending = { resolve: (value: Reply) => void; reject: (error: Error) => void };

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

    const ready = await new Promise<{ info: EngineInfo; canPlan: boolean; canDetect: boolean }>((resolve, reject) => {
      worker.on("message", (raw: unknown) => {
        const message = fromThreadSchema.parse(raw);
        if (message.type === "ready") resolve({ info: message.info, canPlan: message.canPlan, canDetect: message.canDetect });
        else if (message.type === "init-failed") reject(new Error(message.message));
        else {
          const waiter = pending.get(message.id);
          pending.delete(message.id);
          if (!waiter) return;
          if (message.type === "result") waiter.resolve({ kind: "result", value: { language: message.language, segments: message.segments } });
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
    const request = (signal: AbortSignal, build: (id: number) => ToThread): Promise<Reply> => {
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
        });
        post(build(id));
      });
    };
    let closing: Promise<void> | null = null;
    const engine: Engine = {
      info: ready.info,
      async transcribe(input) {
        const { signal, chunks, ...rest } = input;
        const reply = await request(signal, (id) => ({ type: "transcribe", id, input: { ...rest, ...(chunks ? { chunks: [...chunks] } : {}) } }));
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
  };
}
