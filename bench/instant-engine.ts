import type { Engine, EngineFactory, EngineInput, EngineTranscription, TranscriptWord } from "../src/server/asr/engine";

/**
 * Benchmark-only engine (ASR_ENGINE_MODULE=bench/instant-engine.ts): it answers at once
 * without reading the media or spawning anything, so a benchmark measures the control plane
 * (HTTP, upload, probe, database, dispatch) and nothing of speech recognition.
 */

/** Seconds assumed when the caller gives no window; the control-plane benchmark sends 1 s files. */
const DEFAULT_WINDOW_S = 1;

/** One word per second of the window: a transcript of realistic shape at no cost. */
function instantTranscription(input: EngineInput): EngineTranscription {
  const startS = input.startS ?? 0;
  const endS = input.endS ?? startS + DEFAULT_WINDOW_S;
  const words: TranscriptWord[] = [];
  for (let t = startS; t < endS; t += 1) {
    words.push({ text: "word", startS: t, endS: Math.min(endS, t + 1), confidence: 1 });
  }
  return {
    language: input.language === "auto" ? "en" : input.language,
    segments: [{ startS, endS, text: words.map((word) => word.text).join(" "), words }],
  };
}

function createInstantEngine(): Engine {
  return {
    info: { name: "instant", model: "none", provider: "cpu", languages: ["en"] },
    // async so that an aborted signal becomes a rejection, as callers of the contract expect.
    transcribe: async (input) => {
      input.signal.throwIfAborted();
      return instantTranscription(input);
    },
    close: async () => undefined,
  };
}

export function createEngineFactory(): EngineFactory {
  return () => Promise.resolve(createInstantEngine());
}
