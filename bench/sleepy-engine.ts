import fs from "node:fs/promises";
import type { Engine, EngineFactory } from "../src/server/asr/engine";
import { probeMedia } from "../src/server/media/probe-media";

/**
 * Scale-out stand-in for a GPU engine (ASR_ENGINE_MODULE=bench/sleepy-engine.ts): it waits
 * the audio's duration / SLEEPY_SPEEDUP (default 50) plus SLEEPY_MIN_MS, without using the
 * CPU, then returns one word per second. I/O-bound like a GPU seen from the host, so many
 * worker loops on a small machine measure the queueing and not the arithmetic.
 *
 * A file whose bytes contain "POISON" (ffmpeg -metadata comment=POISON) fails every time
 * with an error a retry might fix: how the tests make a poison task.
 */
export function createEngineFactory(): EngineFactory {
  const speedup = Number(process.env.SLEEPY_SPEEDUP ?? 50);
  const minMs = Number(process.env.SLEEPY_MIN_MS ?? 0);
  return async (): Promise<Engine> => ({
    info: { name: "sleepy", model: `duration / ${speedup}`, provider: "sleep", languages: ["en"] },
    async transcribe(input) {
      const bytes = await fs.readFile(input.mediaPath);
      if (bytes.includes("POISON")) throw new Error("The engine crashed on this file (poison test input)");
      const { durationS } = await probeMedia(input.mediaPath, input.signal);
      const startS = input.startS ?? 0;
      const endS = input.endS ?? durationS;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, minMs + ((endS - startS) * 1000) / speedup);
        input.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(input.signal.reason as Error);
        }, { once: true });
      });
      const words = Array.from({ length: Math.max(1, Math.floor(endS - startS)) }, (_, i) => ({ text: "word", startS: startS + i, endS: Math.min(endS, startS + i + 1), confidence: 1 }));
      return { language: input.language === "auto" ? "en" : input.language, segments: [{ startS, endS, text: words.map((word) => word.text).join(" "), words }] };
    },
    async close() {},
  });
}
