import fs from "node:fs/promises";
import path from "node:path";
import { createEngineFactory as createInstantEngineFactory } from "../../bench/instant-engine";
import type { Engine, EngineFactory } from "../../src/server/asr/engine";
import { PermanentJobError } from "../../src/server/errors";

/**
 * Test engine (ASR_ENGINE_MODULE=GATED_ENGINE, in-process apps from startTestApp only): it
 * answers like bench/instant-engine.ts, but while the test holds the gate every transcription
 * waits at its start, so a job keeps its engine for exactly as long as the test needs (no
 * sleeps, no timing). A file whose bytes contain REJECT_MARKER fails permanently: a rejected
 * job on demand (toneWav({ comment: REJECT_MARKER })).
 */
export const GATED_ENGINE = path.resolve(import.meta.dirname, "gated-engine.ts");

export const REJECT_MARKER = "REJECT-THIS-FILE";

type GateState = {
  gate: Promise<void> | null;
  open: () => void;
  started: number;
  waiters: { count: number; resolve: () => void }[];
};

// On globalThis: the app loads this module by file URL and the test by its import, and the
// two must share one gate even if a loader gave them separate module instances.
const KEY = Symbol.for("transcribe-platform.tests.gated-engine");
const state: GateState = ((globalThis as Record<symbol, GateState | undefined>)[KEY] ??= { gate: null, open: () => undefined, started: 0, waiters: [] });

/** From now on, transcriptions wait at their start until openGate(). */
export function closeGate(): void {
  if (state.gate) return;
  state.gate = new Promise<void>((resolve) => {
    state.open = () => {
      state.gate = null;
      resolve();
    };
  });
}

/** Lets every waiting transcription (and later ones) run. */
export function openGate(): void {
  state.open();
}

/** Resolves once `count` transcriptions have started since the process began (or resetStarted()). */
export function whenStarted(count: number): Promise<void> {
  if (state.started >= count) return Promise.resolve();
  return new Promise((resolve) => state.waiters.push({ count, resolve }));
}

export function resetStarted(): void {
  state.started = 0;
  state.waiters = [];
}

export function createEngineFactory(): EngineFactory {
  const instant = createInstantEngineFactory();
  return async (): Promise<Engine> => {
    const inner = await instant();
    return {
      info: { ...inner.info, name: "gated" },
      async transcribe(input) {
        state.started += 1;
        for (const waiter of state.waiters.filter((w) => state.started >= w.count)) waiter.resolve();
        state.waiters = state.waiters.filter((w) => state.started < w.count);
        if ((await fs.readFile(input.mediaPath)).includes(REJECT_MARKER)) throw new PermanentJobError("The test engine rejects this file");
        const gate = state.gate;
        if (gate) {
          await new Promise<void>((resolve, reject) => {
            const onAbort = () => reject(input.signal.reason as Error);
            input.signal.addEventListener("abort", onAbort, { once: true });
            void gate.then(() => {
              input.signal.removeEventListener("abort", onAbort);
              resolve();
            });
          });
        }
        return inner.transcribe(input);
      },
      close: () => inner.close(),
    };
  };
}
