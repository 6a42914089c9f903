import path from "node:path";
import { z } from "zod";
import { PermanentJobError } from "../../errors";
import type { TranscriptionTask } from "../../../shared/transcription-task";
import { decodePcm } from "../../media/decode-pcm";
import type { AudioWindow, Engine, EngineFactory, EngineInfo, EngineInput, EngineTranscription, TranscriptSegment, WordTimings } from "../engine";
import { planChunks, type AudioChunk } from "../vad/plan-chunks";
import { DEFAULT_VAD_OPTIONS, SileroVad } from "../vad/silero-vad";
import { DecodeScheduler, type DecodeSchedulerStats } from "./decode-scheduler";
import { BEST_OF, COMPRESSION_RATIO_THRESHOLD, LOG_PROB_THRESHOLD, OPENAI_TEMPERATURES } from "./fallback";
import { FileDecode, previousTextTokens, type FileDecodeSettings } from "./file-decode";
import { greedyDecode } from "./greedy-decode";
import { LogMelExtractor } from "./log-mel";
import { loadWhisperModelFiles, type WhisperModelFiles } from "./model-files";
import { alignDecoderOutput, tidyAlignedWords, type AlignedWord } from "./word-alignment";
import { WhisperSessions, type DecoderStep } from "./whisper-sessions";

export const whisperEngineOptionsSchema = z.object({
  modelDir: z.string().min(1),
  variant: z.enum(["fp32", "fp16", "quantized"]),
  provider: z.enum(["cpu", "cuda"]),
  /** Threads per ONNX operator in this slot. */
  intraOpThreads: z.number().int().positive(),
  /** Chunks encoded and decoded together. */
  batchSize: z.number().int().positive(),
  /** Tokens generated per chunk at most (Whisper's limit is 224). */
  maxNewTokens: z.number().int().positive(),
  /** A chunk whose p(<|nospeech|>) exceeds this and whose mean token log-prob is below logProbThreshold yields no text. */
  noSpeechThreshold: z.number().min(0).max(1),
  /**
   * Temperatures a chunk is decoded at, in turn, until one passes the checks (fallback.ts).
   * The first is normally 0 (greedy or beam); [0] turns the fallback off.
   */
  temperatures: z.array(z.number().min(0).max(2)).min(1).default([...OPENAI_TEMPERATURES]),
  /** An attempt whose text compresses better than this (gzip ratio) is too repetitive. */
  compressionRatioThreshold: z.number().positive().default(COMPRESSION_RATIO_THRESHOLD),
  /** An attempt whose mean token log-probability is below this is too unlikely. */
  logProbThreshold: z.number().max(0).default(LOG_PROB_THRESHOLD),
  /** Samples per chunk at a temperature above 0; the likeliest is kept. */
  bestOf: z.number().int().min(1).max(8).default(BEST_OF),
  /** 1 = greedy; up to 5 hypotheses per chunk with beam search. */
  beamSize: z.number().int().min(1).max(5).default(1),
  /** Suppress end-of-text before this many tokens (benchmarks fix the work per chunk with it). */
  minNewTokens: z.number().int().min(0).default(0),
  /** End a chunk's decoding when it loops on one phrase (off only to measure fixed work). */
  stopOnLoops: z.boolean().default(true),
  /** Keep the encoder's activations in onnxruntime's arena between runs (see WhisperSessions.create). */
  encoderArena: z.boolean().default(true),
  /**
   * openai-whisper's condition_on_previous_text: each window is prompted with the text decoded
   * before it. Its windows then decode one after another (other files still share the batch).
   */
  conditionOnPreviousText: z.boolean().default(false),
  /** Align words to the audio where the model can (one more decoder pass per window); false: spread them. */
  wordTimestamps: z.boolean().default(true),
});
export type WhisperEngineOptions = z.infer<typeof whisperEngineOptionsSchema>;

export const DEFAULT_WHISPER_OPTIONS: Omit<WhisperEngineOptions, "modelDir"> = {
  variant: "fp32",
  provider: "cpu",
  intraOpThreads: 1,
  batchSize: 4,
  maxNewTokens: 224,
  noSpeechThreshold: 0.6,
  temperatures: [...OPENAI_TEMPERATURES],
  compressionRatioThreshold: COMPRESSION_RATIO_THRESHOLD,
  logProbThreshold: LOG_PROB_THRESHOLD,
  bestOf: BEST_OF,
  beamSize: 1,
  minNewTokens: 0,
  stopOnLoops: true,
  encoderArena: true,
  conditionOnPreviousText: false,
  wordTimestamps: true,
};

const SAMPLE_RATE = 16_000;

/**
 * Whisper on onnxruntime-node: decode → Silero VAD → chunks of at most 30 s → log-mel →
 * batched encoder → batched greedy decoding with the KV cache and Whisper's timestamp
 * rules → timed segments in file time. Silence never reaches the decoder (VAD), and a
 * chunk the model itself judges speechless (no-speech gate) yields nothing.
 */
export class WhisperEngine implements Engine {
  readonly info: EngineInfo;
  /** Concurrent transcribe() calls share this engine's decoder batch. */
  readonly sharedBatching = true;
  private readonly scheduler: DecodeScheduler;
  /**
   * How words get their times: aligned from the alignment heads' cross-attention when the
   * model names its heads (generation_config.json `alignment_heads`) and its decoders return
   * them; otherwise spread over each segment by length.
   */
  readonly wordTimings: Extract<WordTimings, "aligned" | "proportional">;
  private readonly alignmentHeads: readonly (readonly [number, number])[];
  /** The decoder layers the alignment heads are in: the cross-attention outputs to fetch. */
  private readonly alignmentLayers: readonly number[];
  private readonly settings: FileDecodeSettings;

  private constructor(
    private readonly files: WhisperModelFiles,
    private readonly sessions: WhisperSessions,
    private readonly vad: SileroVad,
    private readonly mel: LogMelExtractor,
    private readonly options: WhisperEngineOptions,
  ) {
    // int8 exports quantize activations with one scale per tensor (onnxruntime's dynamic
    // quantization), i.e. per batch: a row's logits would move with its batch-mates and a
    // file's transcript would depend on what else was in flight. Those decode one chunk per
    // call (its beams together, as alone), so every variant gives a file the same text.
    const chunksPerCall = options.variant === "quantized" ? 1 : options.batchSize;
    // A sampled retry takes bestOf rows: the batch must hold one, whatever the batch size.
    const widest = Math.max(options.beamSize, options.temperatures.some((t) => t > 0) ? options.bestOf : 1);
    this.scheduler = new DecodeScheduler(sessions, { maxRows: Math.max(chunksPerCall * options.beamSize, widest), encodeBatch: chunksPerCall, maxChunks: chunksPerCall });
    this.settings = {
      temperatures: options.temperatures,
      thresholds: { compressionRatio: options.compressionRatioThreshold, logProb: options.logProbThreshold, noSpeech: options.noSpeechThreshold },
      bestOf: options.bestOf,
      beamSize: options.beamSize,
      maxNewTokens: options.maxNewTokens,
      minNewTokens: options.minNewTokens,
      stopOnLoops: options.stopOnLoops,
    };
    this.alignmentHeads = files.generation.alignment_heads ?? [];
    this.alignmentLayers = [...new Set(this.alignmentHeads.map(([layer]) => layer))];
    this.wordTimings = options.wordTimestamps && sessions.returnsCrossAttention(this.alignmentLayers) ? "aligned" : "proportional";
    this.info = {
      name: "whisper-onnx",
      model: `${path.basename(files.dir)} (${options.variant})`,
      provider: sessions.provider,
      languages: [...files.tokenizer.special.languages.keys()],
    };
  }

  static async create(options: WhisperEngineOptions): Promise<WhisperEngine> {
    const files = await loadWhisperModelFiles(options.modelDir, options.variant);
    const sessions = await WhisperSessions.create(files, { provider: options.provider, intraOpThreads: options.intraOpThreads, encoderArena: options.encoderArena });
    const vad = await SileroVad.load();
    return new WhisperEngine(files, sessions, vad, new LogMelExtractor(files.features), options);
  }

  async planChunks(input: { mediaPath: string; signal: AbortSignal }): Promise<AudioChunk[]> {
    const audio = await decodePcm(input.mediaPath, { signal: input.signal });
    return this.speechAndChunks(audio, input.signal);
  }

  async transcribe(input: EngineInput): Promise<EngineTranscription> {
    // With planned chunks the whole file is decoded and sliced, exactly as a one-slot run
    // slices it, so k slots give the same samples (and so the same text) as one.
    const window = input.chunks ? {} : { ...(input.startS !== undefined ? { startS: input.startS } : {}), ...(input.endS !== undefined ? { endS: input.endS } : {}) };
    const audio = await decodePcm(input.mediaPath, { ...window, signal: input.signal });
    const offsetS = input.chunks ? 0 : (input.startS ?? 0);
    // Chunks carry their speech regions (planChunks); one without keeps its words on the chunk.
    const chunks = input.chunks ? [...input.chunks] : await this.speechAndChunks(audio, input.signal);
    const language = chunks.length && input.language === "auto" ? await this.mostLikelyLanguage(audio, chunks[0]!, input.signal) : this.languageCode(input.language);
    const task = input.task ?? "transcribe";
    const segments = await this.decodeChunks(audio, chunks, { language, task, offsetS, weight: input.weight ?? 1, seed: input.seed ?? 0, prompt: input.prompt, signal: input.signal, ...(input.onProgress ? { onProgress: input.onProgress } : {}) });
    // A translation is English whatever was spoken.
    return { language: task === "translate" ? "en" : language, segments, wordTimings: this.wordTimings };
  }

  /** Decoding counters of this engine's scheduler (benchmarks read the batch occupancy). */
  schedulerStats(): DecodeSchedulerStats {
    return this.scheduler.stats();
  }

  async detectLanguage(input: { mediaPath: string; window: AudioChunk; signal: AbortSignal }): Promise<string> {
    // The whole file, sliced, as transcribe() slices it: a seek could shift the samples by
    // a few, and then k slots could detect differently from one.
    const audio = await decodePcm(input.mediaPath, { signal: input.signal });
    return this.mostLikelyLanguage(audio, input.window, input.signal);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.sessions.close(), this.vad.close()]);
  }

  /**
   * The chunks planned over the VAD's speech regions, each carrying the regions inside it, so
   * words are kept on speech wherever the chunk is decoded (on this slot or another).
   */
  private async speechAndChunks(audio: Float32Array, signal: AbortSignal): Promise<AudioWindow[]> {
    const { regions, scores } = await this.vad.analyse(audio, DEFAULT_VAD_OPTIONS, signal);
    return planChunks(regions, this.files.features.nSamples / SAMPLE_RATE, scores).map((chunk) => ({
      ...chunk,
      speech: regions.filter((span) => span.endS > chunk.startS && span.startS < chunk.endS),
    }));
  }


  private languageCode(requested: string): string {
    const code = requested.toLowerCase().split(/[-_]/)[0] ?? requested;
    const known = this.files.tokenizer.special.languages;
    if (code === "auto") return known.has("en") ? "en" : ([...known.keys()][0] ?? "en");
    if (!known.has(code)) throw new PermanentJobError(`Language '${code}' is not supported by the whisper-onnx model (supported: ${[...known.keys()].join(", ")})`);
    return code;
  }

  private features(audio: Float32Array, chunks: readonly AudioChunk[]): Float32Array {
    const perChunk = this.files.features.featureSize * this.mel.frames;
    const out = new Float32Array(perChunk * chunks.length);
    chunks.forEach((chunk, index) => {
      const from = Math.floor(chunk.startS * SAMPLE_RATE);
      const to = Math.min(audio.length, Math.ceil(chunk.endS * SAMPLE_RATE));
      out.set(this.mel.extract(audio.subarray(from, to)), index * perChunk);
    });
    return out;
  }

  /** The most likely language token after <|startoftranscript|> on the first chunk. */
  private async mostLikelyLanguage(audio: Float32Array, chunk: AudioChunk, signal: AbortSignal): Promise<string> {
    const hidden = await this.sessions.encode(this.features(audio, [chunk]), 1);
    const { special } = this.files.tokenizer;
    let best = "en";
    await greedyDecode(this.sessions, hidden, 1, {
      prompt: [special.startOfTranscript],
      maxNewTokens: 1,
      endOfText: null,
      useCache: true,
      signal,
      onPromptLogits: (logits) => {
        let bestLogit = -Infinity;
        for (const [code, id] of special.languages) {
          if (logits[id]! > bestLogit) {
            bestLogit = logits[id]!;
            best = code;
          }
        }
      },
    });
    return best;
  }

  /**
   * Hands the chunks to the shared scheduler, which decodes them alongside every other
   * transcription in flight (FileDecode: fallback, alignment, segments).
   */
  private decodeChunks(
    audio: Float32Array,
    chunks: readonly AudioWindow[],
    request: { language: string; task: TranscriptionTask; offsetS: number; weight: number; seed: number; prompt: string | undefined; signal: AbortSignal; onProgress?: (fraction: number) => void },
  ): Promise<TranscriptSegment[]> {
    const { prompt, ...rest } = request;
    const decode = new FileDecode(
      {
        files: this.files,
        scheduler: this.scheduler,
        settings: this.settings,
        features: (chunk) => this.features(audio, [chunk]),
        aligner: this.wordTimings === "aligned" ? { layers: this.alignmentLayers, align: (output, tokens, promptLength, chunk) => this.alignChunk(output, tokens, promptLength, chunk, request.language) } : null,
      },
      chunks,
      { ...rest, initialPrompt: this.initialPrompt(prompt) },
    );
    return this.options.conditionOnPreviousText ? decode.inOrder() : decode.inRounds();
  }

  /** The prompt's BPE tokens (a leading space, as openai-whisper encodes it); none for a blank one. */
  private initialPrompt(prompt: string | undefined): number[] {
    const text = prompt?.trim();
    return text ? this.files.tokenizer.encode(` ${text}`) : [];
  }

  /** The decoder's previous-text tokens for a prompt: `<|startofprev|>` and its last 223 tokens. */
  promptTokens(prompt: string | undefined): number[] {
    return previousTextTokens(this.files, this.initialPrompt(prompt));
  }

  /** Words of one chunk from its alignment call, tidied as openai-whisper does. */
  private alignChunk(output: DecoderStep, tokens: readonly number[], promptLength: number, chunk: AudioChunk, language: string): AlignedWord[] {
    const melFrames = Math.floor(Math.round((chunk.endS - chunk.startS) * SAMPLE_RATE) / this.files.features.hopLength);
    return tidyAlignedWords(
      alignDecoderOutput(output, {
        tokens,
        promptLength,
        alignmentHeads: this.alignmentHeads,
        // The chunk's own encoder frames (2 mel frames each); the rest of the 30 s window is padding.
        audioFrames: Math.floor(melFrames / 2),
        medianWidth: this.files.config.median_filter_width,
        tokenizer: this.files.tokenizer,
        language,
      }).words,
    );
  }
}

/** One slot per call: sessions and VAD are created once per slot and reused. */
export function createWhisperEngineFactory(options: WhisperEngineOptions): EngineFactory {
  return () => WhisperEngine.create(options);
}

/** Entry for engine threads (see asr/worker): the same factory from JSON options. */
export function createEngineFactory(options: unknown): EngineFactory {
  return createWhisperEngineFactory(whisperEngineOptionsSchema.parse(options));
}
