import { parentPort, workerData } from "node:worker_threads";
import { describeError, isPermanent } from "../../errors";
import type { Engine, EngineFactory } from "../engine";
import { threadEngineSpecSchema, toThreadSchema, type FromThread } from "./thread-protocol";

/**
 * Runs one engine inside a worker thread: feature extraction and the decode loop run here,
 * so the HTTP server's event loop never waits on inference. Requests are served
 * concurrently; an engine with sharedBatching batches them together.
 */
const port = parentPort!;
const send = (message: FromThread) => port.postMessage(message);
const spec = threadEngineSpecSchema.parse((workerData as { spec: unknown }).spec);
const running = new Map<number, AbortController>();
let engine: Engine | null = null;

try {
  const mod = (await import(spec.module)) as { createEngineFactory?: (options: unknown) => EngineFactory };
  if (typeof mod.createEngineFactory !== "function") throw new Error(`${spec.module} does not export createEngineFactory(options)`);
  engine = await mod.createEngineFactory(spec.options)();
  send({ type: "ready", info: { ...engine.info, languages: [...engine.info.languages] }, canPlan: typeof engine.planChunks === "function", canDetect: typeof engine.detectLanguage === "function", sharedBatching: engine.sharedBatching === true });
} catch (error) {
  send({ type: "init-failed", message: describeError(error) });
}

port.on("message", (raw: unknown) => {
  const message = toThreadSchema.parse(raw);
  if (message.type === "abort") {
    running.get(message.id)?.abort(new Error("aborted"));
    return;
  }
  if (message.type === "close") {
    void engine?.close().finally(() => port.close());
    return;
  }
  const controller = new AbortController();
  running.set(message.id, controller);
  const signal = controller.signal;
  const work: Promise<FromThread> =
    message.type === "plan"
      ? engine!.planChunks!({ mediaPath: message.mediaPath, signal }).then((chunks) => ({ type: "planned" as const, id: message.id, chunks }))
      : message.type === "detect"
        ? engine!.detectLanguage!({ mediaPath: message.mediaPath, window: message.window, signal }).then((language) => ({ type: "detected" as const, id: message.id, language }))
        : engine!.transcribe({ ...message.input, signal, onProgress: (fraction) => send({ type: "progress", id: message.id, fraction }) }).then((result) => ({ type: "result" as const, id: message.id, language: result.language, segments: result.segments, ...(result.wordTimings ? { wordTimings: result.wordTimings } : {}) }));
  work
    .then(send)
    .catch((error: unknown) => send({ type: "error", id: message.id, message: describeError(error), permanent: isPermanent(error) }))
    .finally(() => running.delete(message.id));
});
