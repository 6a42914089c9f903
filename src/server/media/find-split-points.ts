import { resolveFfmpegBinaries } from "./ffmpeg-binaries";
import { fileUrl } from "./probe-media";
import { lastLine, runProcess } from "./run-process";

export type SplitPointOptions = {
  /** How far from each equal-division boundary a silence may be, in s. Default 10. */
  searchWindowS?: number;
  /** Level under which audio counts as silence, in dBFS. Default -35. */
  noiseDb?: number;
  /** Shortest pause that counts as silence, in s. Default 0.3. */
  minSilenceS?: number;
  /** Limit for each ffmpeg run in ms. Default 120 000. */
  timeoutMs?: number;
};

/** A silent interval in seconds from the file start. */
export type Silence = { startS: number; endS: number };

const DEFAULTS = { searchWindowS: 10, noiseDb: -35, minSilenceS: 0.3, timeoutMs: 120_000 } as const;
/** Cuts keep at least this much of the silence on each side, in s, so no word is clipped. */
const EDGE_MARGIN_S = 0.5;

/**
 * Chooses `parts - 1` cut times (s, increasing) to split a file across `parts` engine
 * slots: each near its equal-division boundary, moved into the nearest silence within
 * ±searchWindowS so no word is cut in half, or exactly at the boundary when there is none.
 * Only the audio around each boundary is decoded, so long files cost little.
 */
export async function findSplitPoints(
  mediaPath: string,
  durationS: number,
  parts: number,
  signal: AbortSignal,
  options: SplitPointOptions = {},
): Promise<number[]> {
  const count = Math.floor(parts) - 1;
  if (count < 1 || !(durationS > 0)) return [];
  const settings = { ...DEFAULTS, ...options };
  // Windows around neighbouring boundaries must not overlap, or two cuts could collide.
  const window = Math.max(0, Math.min(settings.searchWindowS, durationS / parts / 2 - 0.01));
  const boundaries = Array.from({ length: count }, (_, i) => (durationS * (i + 1)) / parts);

  const cuts = await Promise.all(
    boundaries.map(async (boundary) => {
      if (window <= 0) return boundary;
      const fromS = Math.max(0, boundary - window);
      const toS = Math.min(durationS, boundary + window);
      const silences = await detectSilences(mediaPath, fromS, toS, signal, settings);
      return chooseCut(boundary, silences, window) ?? boundary;
    }),
  );
  return cuts.map((cut) => Math.round(cut * 1000) / 1000);
}

/**
 * The point inside one of `silences` closest to `boundary` (at least EDGE_MARGIN_S inside
 * the silence, or its middle if it is shorter), or null when none is within `maxDistanceS`.
 * Exported for tests.
 */
export function chooseCut(boundary: number, silences: readonly Silence[], maxDistanceS: number): number | null {
  let best: { cut: number; distance: number; length: number } | null = null;
  for (const silence of silences) {
    const length = silence.endS - silence.startS;
    if (!(length > 0)) continue;
    const margin = Math.min(EDGE_MARGIN_S, length / 2);
    const cut = Math.min(Math.max(boundary, silence.startS + margin), silence.endS - margin);
    const distance = Math.abs(cut - boundary);
    if (distance > maxDistanceS) continue;
    // Prefer the closest; between equally close ones, the longer (a real pause, not a gap).
    if (!best || distance < best.distance - 1e-9 || (Math.abs(distance - best.distance) <= 1e-9 && length > best.length)) {
      best = { cut, distance, length };
    }
  }
  return best?.cut ?? null;
}

/** Runs ffmpeg's silencedetect over [fromS, toS) and returns silences in file time. */
export async function detectSilences(
  mediaPath: string,
  fromS: number,
  toS: number,
  signal: AbortSignal,
  settings: Required<Pick<SplitPointOptions, "noiseDb" | "minSilenceS" | "timeoutMs">>,
): Promise<Silence[]> {
  const { ffmpeg } = await resolveFfmpegBinaries();
  const lengthS = toS - fromS;
  const silences: Silence[] = [];
  // An object, not a `let`: TypeScript does not track assignments made inside callbacks.
  const open: { startS: number | null } = { startS: null };
  const result = await runProcess(
    ffmpeg,
    [
      "-nostdin", "-hide_banner", "-nostats",
      "-ss", fromS.toFixed(3), "-t", lengthS.toFixed(3),
      "-i", fileUrl(mediaPath),
      "-map", "0:a:0", "-vn", "-sn", "-dn",
      "-af", `silencedetect=noise=${settings.noiseDb}dB:d=${settings.minSilenceS}`,
      "-f", "null", "-",
    ],
    {
      timeoutMs: settings.timeoutMs,
      signal,
      // silencedetect reports through the log; on a noisy file that is more than any tail.
      onStderrLine: (line) => {
        const start = /silence_start: (-?[\d.]+)/.exec(line);
        if (start?.[1]) {
          open.startS = Math.max(0, Number(start[1]));
          return;
        }
        const end = /silence_end: (-?[\d.]+)/.exec(line);
        if (end?.[1] && open.startS !== null) {
          silences.push({ startS: fromS + open.startS, endS: fromS + Math.min(lengthS, Number(end[1])) });
          open.startS = null;
        }
      },
    },
  );
  if (result.exitCode !== 0) throw new Error(`ffmpeg silencedetect failed: ${lastLine(result.stderrTail)}`);
  // A silence still open at the end of the window runs to the window's end.
  if (open.startS !== null) silences.push({ startS: fromS + open.startS, endS: toS });
  return silences;
}
