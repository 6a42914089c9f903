import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { PermanentJobError } from "../errors";
import { resolveFfmpegBinaries } from "./ffmpeg-binaries";
import { lastLine, runProcess } from "./run-process";

/** What the pipeline needs to know about a media file. */
export type MediaInfo = {
  /** Container name as ffprobe reports it ("wav", "mp3", "mov,mp4,m4a,3gp,3g2,mj2", ...). */
  format: string;
  /** Duration in seconds (0 when the file holds no samples). */
  durationS: number;
  /** Sample rate of the first audio stream in Hz, when known. */
  sampleRateHz: number | null;
  /** Channel count of the first audio stream, when known. */
  channels: number | null;
  /** Codec of the first audio stream ("pcm_s16le", "aac", ...), when known. */
  audioCodec: string | null;
  hasAudio: boolean;
};

export type ProbeOptions = {
  /** Limit for each probing subprocess in ms. Default 30 000. */
  timeoutMs?: number;
  /**
   * The file's first bytes and its size, when the caller has them (an upload just streamed
   * in): a WAV header is then parsed without opening the file.
   */
  head?: { bytes: Buffer; fileSize: number };
};

const DEFAULT_TIMEOUT_MS = 30_000;
/** Decoding the whole audio to measure a duration the container does not state is slower. */
const MEASURE_TIMEOUT_MS = 10 * 60_000;

export const MESSAGES = {
  empty: "The media file is empty (0 bytes)",
  notMedia: "The file is not a recognised audio or video format",
  noAudio: "The media has no audio stream",
  missing: "The media file does not exist",
  unreadable: "The media file cannot be read",
} as const;

/**
 * Probes a media file. WAV files are parsed from their header without spawning anything;
 * everything else goes through ffprobe (or `ffmpeg -i` where no ffprobe is installed).
 * Throws PermanentJobError for input that can never be transcribed (empty, not media,
 * corrupt, no audio stream).
 */
export async function probeMedia(mediaPath: string, signal?: AbortSignal, options: ProbeOptions = {}): Promise<MediaInfo> {
  signal?.throwIfAborted();
  const wav = await readWavInfo(mediaPath, options.head);
  if (wav) return wav;
  signal?.throwIfAborted();
  const { ffprobe } = await resolveFfmpegBinaries();
  const info = ffprobe ? await probeWithFfprobe(ffprobe, mediaPath, signal, options) : await probeWithFfmpeg(mediaPath, signal, options);
  if (!info.hasAudio) throw new PermanentJobError(MESSAGES.noAudio);
  if (Number.isNaN(info.durationS)) {
    return { ...info, durationS: await measureAudioDuration(mediaPath, signal) };
  }
  return info;
}

// ---------------------------------------------------------------------------------------
// WAV fast path

const WAVE_FORMAT_PCM = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
const WAVE_FORMAT_ALAW = 0x0006;
const WAVE_FORMAT_MULAW = 0x0007;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Header bytes read up front; enough for every WAV whose fmt/data chunks come early. */
export const HEAD_BYTES = 4096;
/** Give up walking chunks after this many (a corrupt size field could loop for long). */
const MAX_CHUNKS = 64;

/**
 * Reads a RIFF/WAVE header. Returns null when the file is not a WAV this parser can vouch
 * for (other codecs inside WAV, odd headers), so the caller falls back to ffprobe, which
 * gives the definitive answer. Throws PermanentJobError for an empty or missing file.
 */
export async function readWavInfo(mediaPath: string, known?: ProbeOptions["head"]): Promise<MediaInfo | null> {
  if (known && known.fileSize > 0) {
    // The file is opened only if a chunk lies beyond the bytes already in hand.
    const readAt: ReadAt = async (offset, length) => {
      const handle = await open(mediaPath, "r").catch((error: unknown) => {
        throw fileError(error);
      });
      try {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, offset);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    };
    return parseWavHeader(known.bytes.subarray(0, HEAD_BYTES), known.fileSize, readAt);
  }
  let handle: FileHandle;
  try {
    handle = await open(mediaPath, "r");
  } catch (error) {
    throw fileError(error);
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) throw new PermanentJobError(MESSAGES.empty);
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    return await parseWavHeader(head, size, async (offset, length) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    });
  } catch (error) {
    if (error instanceof PermanentJobError) throw error;
    throw fileError(error);
  } finally {
    await handle.close();
  }
}

type ReadAt = (offset: number, length: number) => Promise<Buffer>;

/**
 * Parses a WAV header from `head` (the first bytes of a file of `fileSize` bytes), reading
 * further chunk headers through `readAt`. Exported for tests.
 */
export async function parseWavHeader(head: Buffer, fileSize: number, readAt: ReadAt): Promise<MediaInfo | null> {
  if (head.length < 12 || head.toString("latin1", 0, 4) !== "RIFF" || head.toString("latin1", 8, 12) !== "WAVE") return null;

  let fmt: Buffer | null = null;
  let dataOffset = -1;
  let dataSize = 0;
  let offset = 12;
  for (let chunks = 0; chunks < MAX_CHUNKS && offset + 8 <= fileSize; chunks++) {
    const header = offset + 8 <= head.length ? head.subarray(offset, offset + 8) : await readAt(offset, 8);
    if (header.length < 8) break;
    const id = header.toString("latin1", 0, 4);
    const size = header.readUInt32LE(4);
    const body = offset + 8;
    if (id === "fmt ") {
      if (size < 16) return null;
      fmt = body + size <= head.length ? head.subarray(body, body + size) : await readAt(body, Math.min(size, 64));
    } else if (id === "data") {
      dataOffset = body;
      // Streamed WAVs (ffmpeg to a pipe) leave 0 or 0xFFFFFFFF here; truncated files claim
      // more than they hold. The bytes actually present are what a decoder will play.
      const available = fileSize - body;
      dataSize = size === 0 || size === 0xffffffff ? available : Math.min(size, available);
      break;
    }
    // Chunks are word-aligned: an odd size is followed by one pad byte.
    offset = body + size + (size % 2);
  }
  if (!fmt || fmt.length < 16 || dataOffset < 0) return null;

  let formatTag = fmt.readUInt16LE(0);
  const channels = fmt.readUInt16LE(2);
  const sampleRateHz = fmt.readUInt32LE(4);
  const blockAlign = fmt.readUInt16LE(12);
  const bitsPerSample = fmt.readUInt16LE(14);
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) then the SubFormat GUID,
    // whose first two bytes are the real format tag.
    if (fmt.length < 26) return null;
    formatTag = fmt.readUInt16LE(24);
  }
  if (channels === 0 || sampleRateHz === 0 || blockAlign === 0) return null;
  const audioCodec = pcmCodecName(formatTag, bitsPerSample);
  // Compressed codecs in WAV (ADPCM, MP3, ...) have no exact duration from the header.
  if (!audioCodec) return null;

  return {
    format: "wav",
    durationS: Math.floor(dataSize / blockAlign) / sampleRateHz,
    sampleRateHz,
    channels,
    audioCodec,
    hasAudio: true,
  };
}

/** ffmpeg's codec names for the uncompressed WAV formats. */
function pcmCodecName(formatTag: number, bits: number): string | null {
  switch (formatTag) {
    case WAVE_FORMAT_PCM:
      if (bits === 8) return "pcm_u8";
      if (bits === 16 || bits === 24 || bits === 32) return `pcm_s${bits}le`;
      return null;
    case WAVE_FORMAT_IEEE_FLOAT:
      return bits === 32 || bits === 64 ? `pcm_f${bits}le` : null;
    case WAVE_FORMAT_ALAW:
      return bits === 8 ? "pcm_alaw" : null;
    case WAVE_FORMAT_MULAW:
      return bits === 8 ? "pcm_mulaw" : null;
    default:
      return null;
  }
}

function fileError(error: unknown): Error {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOENT") return new PermanentJobError(MESSAGES.missing);
  if (code === "EISDIR" || code === "EACCES" || code === "EPERM") return new PermanentJobError(`${MESSAGES.unreadable} (${code})`);
  // EIO, EMFILE and the like may pass: not permanent.
  return error instanceof Error ? error : new Error(String(error));
}

// ---------------------------------------------------------------------------------------
// ffprobe

const numeric = z.union([z.number(), z.string()]).optional().transform((value) => {
  if (value === undefined) return null;
  const parsed = typeof value === "number" ? value : Number.parseFloat(value);
  return Number.isFinite(parsed) ? parsed : null;
});

const ffprobeSchema = z.object({
  format: z
    .object({
      format_name: z.string().optional(),
      duration: numeric,
    })
    .optional(),
  streams: z
    .array(
      z.object({
        codec_type: z.string().optional(),
        codec_name: z.string().optional(),
        sample_rate: numeric,
        channels: z.number().optional(),
        duration: numeric,
      }),
    )
    .optional(),
});

/**
 * Containers ffmpeg "recognises" that are not media a user meant to upload: the tty
 * demuxer turns any .txt/.ans file into an ANSI-art video.
 */
const NOT_MEDIA_FORMATS = new Set(["tty"]);

/** Probes through ffprobe's JSON output. `durationS` is NaN when nothing states it. */
export async function probeWithFfprobe(ffprobe: string, mediaPath: string, signal: AbortSignal | undefined, options: ProbeOptions = {}): Promise<MediaInfo> {
  const result = await runProcess(
    ffprobe,
    ["-v", "error", "-hide_banner", "-print_format", "json", "-show_format", "-show_streams", fileUrl(mediaPath)],
    { timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, signal, stdout: "capture", maxStdoutBytes: 4 * 1024 * 1024 },
  );
  if (result.exitCode !== 0) throw classifyFfmpegFailure(result.stderrTail);

  let json: unknown;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    throw new Error(`ffprobe printed invalid JSON for ${path.basename(mediaPath)}`);
  }
  const parsed = ffprobeSchema.safeParse(json);
  if (!parsed.success) throw new Error(`ffprobe output has an unexpected shape: ${parsed.error.message}`);
  const formatName = parsed.data.format?.format_name;
  if (!formatName || NOT_MEDIA_FORMATS.has(formatName)) throw new PermanentJobError(MESSAGES.notMedia);

  const streams = parsed.data.streams ?? [];
  const audio = streams.find((stream) => stream.codec_type === "audio");
  const durationS = parsed.data.format?.duration ?? audio?.duration ?? Number.NaN;
  return {
    format: formatName,
    durationS: Math.max(0, durationS),
    sampleRateHz: audio?.sample_rate ?? null,
    channels: audio?.channels ?? null,
    audioCodec: audio?.codec_name ?? null,
    hasAudio: audio !== undefined,
  };
}

// ---------------------------------------------------------------------------------------
// `ffmpeg -i` fallback (no ffprobe, e.g. the @ffmpeg-installer static build)

/** Probes by parsing the stream summary `ffmpeg -i` prints to stderr. */
export async function probeWithFfmpeg(mediaPath: string, signal: AbortSignal | undefined, options: ProbeOptions = {}): Promise<MediaInfo> {
  const { ffmpeg } = await resolveFfmpegBinaries();
  // The summary can exceed any tail (long metadata, many streams): collect the lines we need.
  const lines: string[] = [];
  const result = await runProcess(ffmpeg, ["-nostdin", "-hide_banner", "-i", fileUrl(mediaPath)], {
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal,
    onStderrLine: (line) => {
      if (/^\s*(Input #|Duration:|Stream #)/.test(line)) lines.push(line);
    },
  });
  // Without an output file ffmpeg always exits 1; only a missing "Input #0" means failure.
  return parseFfmpegInputSummary(lines.join("\n"), result.stderrTail);
}

/** Parses `ffmpeg -i` output. Exported for tests. */
export function parseFfmpegInputSummary(summary: string, stderrTail: string): MediaInfo {
  const input = /Input #0, (.+?), from /.exec(summary);
  if (!input?.[1]) throw classifyFfmpegFailure(stderrTail);
  const format = input[1];
  if (NOT_MEDIA_FORMATS.has(format)) throw new PermanentJobError(MESSAGES.notMedia);

  const duration = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(summary);
  const durationS = duration ? Number(duration[1]) * 3600 + Number(duration[2]) * 60 + Number(duration[3]) : Number.NaN;

  // e.g. "Stream #0:0(und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 128 kb/s"
  const audio = /Stream #0:\d+.*?: Audio: ([^\s,]+)[^\n]*/.exec(summary);
  if (!audio) return { format, durationS, sampleRateHz: null, channels: null, audioCodec: null, hasAudio: false };
  const line = audio[0];
  const rate = /, (\d+) Hz/.exec(line);
  const layout = /Hz, ([^,]+)/.exec(line)?.[1]?.trim();
  return {
    format,
    durationS,
    sampleRateHz: rate?.[1] ? Number(rate[1]) : null,
    channels: layout ? channelsOfLayout(layout) : null,
    audioCodec: audio[1] ?? null,
    hasAudio: true,
  };
}

const LAYOUT_CHANNELS: Record<string, number> = {
  mono: 1,
  stereo: 2,
  "2.1": 3,
  "3.0": 3,
  "3.0(back)": 3,
  "4.0": 4,
  quad: 4,
  "quad(side)": 4,
  "3.1": 4,
  "5.0": 5,
  "5.0(side)": 5,
  "4.1": 5,
  "5.1": 6,
  "5.1(side)": 6,
  "6.0": 6,
  "6.1": 7,
  "7.0": 7,
  "7.1": 8,
  "7.1(wide)": 8,
  "7.1(wide-side)": 8,
};

function channelsOfLayout(layout: string): number | null {
  const count = /^(\d+) channels/.exec(layout);
  if (count?.[1]) return Number(count[1]);
  return LAYOUT_CHANNELS[layout] ?? null;
}

// ---------------------------------------------------------------------------------------
// Shared

/**
 * Maps ffmpeg/ffprobe's complaint to a user-facing PermanentJobError. Demuxer-specific
 * errors ("[mov,mp4,...] moov atom not found") mean a known container that is broken;
 * a bare "Invalid data found" means ffmpeg recognised nothing.
 */
export function classifyFfmpegFailure(stderr: string): Error {
  const lines = stderr.split(/\r\n|\n|\r/).map((line) => line.trim()).filter(Boolean);
  if (lines.some((line) => /No such file or directory/i.test(line))) return new PermanentJobError(MESSAGES.missing);
  if (lines.some((line) => /Permission denied/i.test(line))) return new PermanentJobError(`${MESSAGES.unreadable} (permission denied)`);
  const demuxerComplaint = lines.find((line) => /^\[[a-z0-9_,]+ @ 0x[0-9a-f]+\]/i.test(line));
  if (demuxerComplaint) {
    const detail = demuxerComplaint.replace(/^\[[^\]]+\]\s*/, "");
    return new PermanentJobError(`The media file is corrupt or truncated and cannot be read (${detail})`);
  }
  if (lines.some((line) => /Invalid data found when processing input|could not find codec parameters|Unknown format/i.test(line))) {
    return new PermanentJobError(MESSAGES.notMedia);
  }
  const detail = lastLine(stderr);
  return new PermanentJobError(`The media file cannot be read${detail ? ` (${detail})` : ""}`);
}

/**
 * Decodes the first audio stream to nowhere and reads how far it got, for containers that
 * state no duration (raw ADTS, some streamed files).
 */
async function measureAudioDuration(mediaPath: string, signal: AbortSignal | undefined): Promise<number> {
  const { ffmpeg } = await resolveFfmpegBinaries();
  let lastUs = 0;
  const result = await runProcess(
    ffmpeg,
    ["-nostdin", "-hide_banner", "-nostats", "-v", "error", "-i", fileUrl(mediaPath), "-map", "0:a:0", "-f", "null", "-progress", "pipe:1", "-"],
    {
      timeoutMs: MEASURE_TIMEOUT_MS,
      signal,
      onStdoutLine: (line) => {
        const match = /^out_time_us=(\d+)$/.exec(line.trim());
        if (match?.[1]) lastUs = Number(match[1]);
      },
    },
  );
  if (result.exitCode !== 0) throw classifyFfmpegFailure(result.stderrTail);
  return lastUs / 1e6;
}

/**
 * The path as an explicit file URL-ish input: stops ffmpeg reading "-x.wav" as an option
 * or "concat:..."/"http:..." names as protocols.
 */
export function fileUrl(mediaPath: string): string {
  return `file:${path.resolve(mediaPath)}`;
}
