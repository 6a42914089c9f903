import type { SpeechRegion } from "./silero-vad";

/** A window of audio sent to the recogniser as one unit, in seconds. */
export type AudioChunk = { startS: number; endS: number };

/**
 * Packs speech regions into chunks of at most `maxChunkS` (Whisper's 30 s window):
 * neighbouring regions share a chunk while it fits, so silence between chunks is never
 * transcribed; a region longer than the window is cut into window-sized pieces.
 */
export function planChunks(regions: readonly SpeechRegion[], maxChunkS = 30): AudioChunk[] {
  const chunks: AudioChunk[] = [];
  let current: AudioChunk | null = null;
  for (const region of regions) {
    for (let startS = region.startS; startS < region.endS; startS += maxChunkS) {
      const piece = { startS, endS: Math.min(region.endS, startS + maxChunkS) };
      if (current && piece.endS - current.startS <= maxChunkS) {
        current.endS = piece.endS;
      } else {
        if (current) chunks.push(current);
        current = { ...piece };
      }
    }
  }
  if (current) chunks.push(current);
  return chunks;
}
