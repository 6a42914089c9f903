import type { SpeechRegion } from "./silero-vad";

/** A window of audio sent to the recogniser as one unit, in seconds. */
export type AudioChunk = { startS: number; endS: number };

/** The VAD's speech probability per frame, used to choose where to cut a long stretch of speech. */
export type SpeechScores = { values: ArrayLike<number>; frameS: number };

/** Silero's frame (512 samples at 16 kHz); the cut grid when no scores are given. */
const DEFAULT_FRAME_S = 0.032;

/** A place a chunk may end: a region's end (free) or a frame inside a region (costs its speech probability). */
type CutPoint = { atS: number; cost: number; insideRegion: number | null };

/**
 * Splits speech into chunks of at most `maxChunkS` (Whisper's 30 s window) so that silence
 * between chunks is never transcribed, using as few chunks as possible: the encoder costs the
 * same for 5 s as for 30 s, so the number of chunks is the cost of a file.
 *
 * A chunk may end at the end of a speech region (free) or inside one; among the plans with
 * the fewest chunks, the one whose inside cuts have the lowest total speech probability wins,
 * so cuts fall on breaths between words rather than inside them (the way WhisperX cuts with
 * VAD scores). Found exactly by dynamic programming over the candidate cut points, each
 * looking back at most one window. Without scores every inside cut costs the same.
 */
export function planChunks(regions: readonly SpeechRegion[], maxChunkS = 30, scores?: SpeechScores): AudioChunk[] {
  if (regions.length === 0) return [];
  const frameS = scores?.frameS ?? DEFAULT_FRAME_S;
  const points = cutPoints(regions, frameS, scores);
  /** Where speech resumes after a cut at `point`. */
  const resumeAt = (point: number): number => {
    const cut = points[point]!;
    return cut.insideRegion !== null ? cut.atS : (regions.find((region) => region.startS >= cut.atS)?.startS ?? Infinity);
  };
  const resume = points.map((_, index) => resumeAt(index));
  const firstStart = regions[0]!.startS;

  // best[j]: fewest chunks (then lowest cut cost) covering all speech before points[j], a chunk ending there.
  const chunks = new Int32Array(points.length).fill(0x7fffffff);
  const cost = new Float64Array(points.length).fill(Infinity);
  const from = new Int32Array(points.length).fill(-2);
  for (let j = 0; j < points.length; j++) {
    const endS = points[j]!.atS;
    const consider = (previous: number, startS: number) => {
      if (!(startS < endS) || endS - startS > maxChunkS + 1e-9) return;
      const count = (previous < 0 ? 0 : chunks[previous]!) + 1;
      const total = (previous < 0 ? 0 : cost[previous]!) + points[j]!.cost;
      if (count < chunks[j]! || (count === chunks[j]! && total < cost[j]!)) {
        chunks[j] = count;
        cost[j] = total;
        from[j] = previous;
      }
    };
    consider(-1, firstStart);
    for (let i = j - 1; i >= 0; i--) {
      // resume[] never decreases, so no earlier point can start a chunk that reaches endS.
      if (resume[i]! < endS - maxChunkS - 1e-9) break;
      if (chunks[i]! !== 0x7fffffff) consider(i, resume[i]!);
    }
  }

  const last = points.length - 1;
  const plan: AudioChunk[] = [];
  for (let j = last; j >= 0; j = from[j]!) {
    if (from[j] === -2) throw new Error("planChunks: no plan covers the speech (a region is not on the cut grid)");
    plan.push({ startS: from[j]! < 0 ? firstStart : resume[from[j]!]!, endS: points[j]!.atS });
  }
  return plan.reverse();
}

/** Region ends, plus the middle of every frame strictly inside a region, in time order. */
function cutPoints(regions: readonly SpeechRegion[], frameS: number, scores: SpeechScores | undefined): CutPoint[] {
  const points: CutPoint[] = [];
  regions.forEach((region, index) => {
    for (let frame = Math.floor(region.startS / frameS); (frame + 0.5) * frameS < region.endS; frame++) {
      const atS = (frame + 0.5) * frameS;
      if (atS <= region.startS) continue;
      points.push({ atS, cost: scores ? Number(scores.values[frame] ?? 1) : 1, insideRegion: index });
    }
    points.push({ atS: region.endS, cost: 0, insideRegion: null });
  });
  return points;
}
