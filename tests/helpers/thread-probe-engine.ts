import { threadId } from "node:worker_threads";
import type { Engine, EngineFactory } from "../../src/server/asr/engine";

/**
 * Test engine for engine threads (loaded by file URL in a worker thread, see
 * asr/worker/threaded-engine.ts). Its model name is the thread it runs in, and each
 * transcription answers with the most transcriptions in flight in this engine while it ran, so a test can see which slots share a thread and whether their calls overlap there.
 * Options: { sharedBatching: boolean }. A transcription waits until `inFlight` calls are
 * running together (language = "wait-for-N"), so overlap is an event, not a timing.
 */
export function createEngineFactory(options: unknown): EngineFactory {
  const { sharedBatching } = options as { sharedBatching: boolean };
  return async () => {
    let inFlight = 0;
    let peak = 0;
    const waiters: { count: number; resolve: () => void }[] = [];
    const engine: Engine = {
      info: { name: "thread-probe", model: `thread ${threadId}`, provider: "cpu", languages: ["en"] },
      ...(sharedBatching ? { sharedBatching: true } : {}),
      async transcribe(input) {
        inFlight++;
        peak = Math.max(peak, inFlight);
        for (const waiter of waiters.filter((w) => w.count <= inFlight)) waiter.resolve();
        const wanted = Number(/^wait-for-(\d+)$/.exec(input.language)?.[1] ?? 1);
        if (inFlight < wanted) await new Promise<void>((resolve) => waiters.push({ count: wanted, resolve }));
        const seen = peak;
        inFlight--;
        if (inFlight === 0) peak = 0;
        return { language: "en", segments: [{ startS: 0, endS: 1, text: `${threadId}:${seen}`, words: [] }] };
      },
      async close() {},
    };
    return engine;
  };
}
