import path from "node:path";
import { z } from "zod";
import { PermanentJobError } from "../../errors";
import type { TranscriptionTask } from "../../../shared/transcription-task";
import { decodePcm } from "../../media/decode-pcm";
import type { Engine, EngineFactory, EngineInfo, EngineInput, EngineTranscription, TranscriptSegment, WordTimings } from "../engine";
import { planChunks, type AudioChunk } from "../vad/plan-chunks";
import { DEFAULT_VAD_OPTIONS, SileroVad } from "../vad/silero-vad";
import { BeamGroup, GreedyGroup, SampledGroup, type DecodedSequence, type GroupRules, type SequenceGroup } from "./decode-groups";
import { DecodeScheduler, type DecodeSchedulerStats } from "./decode-scheduler";
import { attemptSeed, BEST_OF, COMPRESSION_RATIO_THRESHOLD, compressionRatio, judgedSilent, LOG_PROB_THRESHOLD, needsFallback, OPENAI_TEMPERATURES, seededRandom, type AttemptScore } from "./fallback";
import { greedyDecode, logSoftmaxAt } from "./greedy-decode";
import { LogMelExtractor } from "./log-mel";
import { loadWhisperModelFiles, type WhisperModelFiles } from "./model-files";
import { cutTrailingLoop, endsInLoop } from "./repetition";
import { createWhisperLogitRules } from "./timestamp-rules";
import { tokensToSegments } from "./tokens-to-segments";
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
    this.alignmentHeads = files.generation.alignment_heads ?? [];
    this.wordTimings = sessions.returnsCrossAttention([...new Set(this.alignmentHeads.map(([layer]) => layer))]) ? "aligned" : "proportional";
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
    return this.chunksOf(audio, input.signal);
  }

  async transcribe(input: EngineInput): Promise<EngineTranscription> {
    // With planned chunks the whole file is decoded and sliced, exactly as a one-slot run
    // slices it, so k slots give the same samples (and so the same text) as one.
    const window = input.chunks ? {} : { ...(input.startS !== undefined ? { startS: input.startS } : {}), ...(input.endS !== undefined ? { endS: input.endS } : {}) };
    const audio = await decodePcm(input.mediaPath, { ...window, signal: input.signal });
    const offsetS = input.chunks ? 0 : (input.startS ?? 0);
    const chunks = input.chunks ? [...input.chunks] : await this.chunksOf(audio, input.signal);
    const language = chunks.length && input.language === "auto" ? await this.mostLikelyLanguage(audio, chunks[0]!, input.signal) : this.languageCode(input.language);
    const task = input.task ?? "transcribe";
    const segments = await this.decodeChunks(audio, chunks, { language, task, offsetS, weight: input.weight ?? 1, seed: input.seed ?? 0, previousText: this.promptTokens(input.prompt), signal: input.signal, ...(input.onProgress ? { onProgress: input.onProgress } : {}) });
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

  private async chunksOf(audio: Float32Array, signal: AbortSignal): Promise<AudioChunk[]> {
    const { regions, scores } = await this.vad.analyse(audio, DEFAULT_VAD_OPTIONS, signal);
    return planChunks(regions, this.files.features.nSamples / SAMPLE_RATE, scores);
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
   * transcription in flight, and turns each chunk's tokens into timed segments.
   */
  private async decodeChunks(
    audio: Float32Array,
    chunks: readonly AudioChunk[],
    request: { language: string; task: TranscriptionTask; offsetS: number; weight: number; seed: number; previousText: readonly number[]; signal: AbortSignal; onProgress?: (fraction: number) => void },
  ): Promise<TranscriptSegment[]> {
    const { tokenizer, generation } = this.files;
    const { special } = tokenizer;
    // The alignment call runs over this start alone (openai-whisper's sot_sequence); decoding
    // puts the previous text (the prompt) in front of it.
    const startSequence = [special.startOfTranscript, special.languages.get(request.language)!, request.task === "translate" ? special.translate : special.transcribe];
    const prompt = [...request.previousText, ...startSequence];
    const whisperRules = createWhisperLogitRules({
      special,
      suppressTokens: generation.suppress_tokens,
      beginSuppressTokens: generation.begin_suppress_tokens,
      timestamps: true,
      maxInitialTimestampS: 1,
    });
    const rules: GroupRules = {
      maxNewTokens: Math.min(this.options.maxNewTokens, generation.max_length - prompt.length),
      endOfText: special.endOfText,
      filterLogits: (logits, generated) => {
        whisperRules(logits, generated);
        if (generated.length < this.options.minNewTokens) logits[special.endOfText] = -Infinity;
      },
      ...(this.options.stopOnLoops ? { shouldStop: (generated: readonly number[]) => endsInLoop(generated) } : {}),
    };
    const noSpeech = new Array<number>(chunks.length).fill(0);
    const thresholds = { compressionRatio: this.options.compressionRatioThreshold, logProb: this.options.logProbThreshold, noSpeech: this.options.noSpeechThreshold };
    const textOf = (tokens: readonly number[]) => (this.options.stopOnLoops ? cutTrailingLoop(tokens) : tokens).filter((token) => token < special.endOfText);
    const scoreOf = (index: number, { tokens, meanLogProb, looped }: DecodedSequence): AttemptScore => ({
      avgLogProb: meanLogProb,
      // Of the text as decoded, loop and all: the repetition is what the ratio measures.
      compressionRatio: compressionRatio(tokenizer.decode(tokens).trim()),
      noSpeechProb: noSpeech[index]!,
      looped: looped ?? false,
    });
    const { temperatures } = this.options;
    const final = new Array<{ result: DecodedSequence; score: AttemptScore; temperature: number } | undefined>(chunks.length);
    /** Whether this attempt stands: it passes the checks, or there is no higher temperature to try. */
    const stands = (index: number, result: DecodedSequence, attempt: number) => attempt === temperatures.length - 1 || !needsFallback(scoreOf(index, result), thresholds);
    const aligned = new Array<AlignedWord[] | undefined>(chunks.length);
    const alignmentLayers = [...new Set(this.alignmentHeads.map(([layer]) => layer))];
    const totalS = chunks.reduce((sum, chunk) => sum + chunk.endS - chunk.startS, 0);
    let doneS = 0;
    let pending = chunks.map((_, index) => index);
    for (let attempt = 0; attempt < temperatures.length && pending.length > 0; attempt++) {
      const temperature = temperatures[attempt]!;
      const group = (index: number): SequenceGroup => {
        if (temperature > 0) return new SampledGroup(rules, temperature, this.options.bestOf, seededRandom(attemptSeed(request.seed, index, attempt)));
        return this.options.beamSize > 1 ? new BeamGroup(rules, this.options.beamSize) : new GreedyGroup(rules);
      };
      const decoded = await this.scheduler.decode({
        chunks: pending.map((index) => ({
          features: () => this.features(audio, [chunks[index]!]),
          prompt,
          group: () => group(index),
          onPromptLogits: (logits: Float32Array) => {
            if (special.noSpeech !== null) noSpeech[index] = Math.exp(logSoftmaxAt(logits, special.noSpeech));
          },
          ...(this.wordTimings === "aligned"
            ? {
                alignment: {
                  layers: alignmentLayers,
                  // Only the attempt that stands is aligned, and only if it is kept (not judged silent).
                  tokensFor: (result: DecodedSequence) => {
                    const text = textOf(result.tokens);
                    if (!text.length || !stands(index, result, attempt) || judgedSilent(scoreOf(index, result), thresholds)) return null;
                    return [...startSequence, special.noTimestamps, ...text, special.endOfText];
                  },
                  read: (output: DecoderStep, tokens: readonly number[]) => {
                    aligned[index] = this.alignChunk(output, tokens, startSequence.length, chunks[index]!, request.language);
                  },
                },
              }
            : {}),
        })),
        weight: request.weight,
        signal: request.signal,
        onChunkDone: (k) => {
          // Progress counts a chunk once, at its first attempt; retries are rare and short.
          if (attempt > 0) return;
          doneS += chunks[pending[k]!]!.endS - chunks[pending[k]!]!.startS;
          request.onProgress?.(totalS > 0 ? doneS / totalS : 1);
        },
      });
      const retry: number[] = [];
      decoded.forEach((result, k) => {
        const index = pending[k]!;
        final[index] = { result, score: scoreOf(index, result), temperature };
        if (!stands(index, result, attempt)) retry.push(index);
      });
      pending = retry;
    }
    const segments: TranscriptSegment[] = [];
    final.forEach((attempt, index) => {
      if (!attempt || judgedSilent(attempt.score, thresholds)) return;
      const chunk = chunks[index]!;
      const { result, score, temperature } = attempt;
      const decoding = { avgLogProb: score.avgLogProb, compressionRatio: score.compressionRatio, noSpeechProb: score.noSpeechProb, temperature };
      const chunkSegments = tokensToSegments(this.options.stopOnLoops ? cutTrailingLoop(result.tokens) : result.tokens, tokenizer, request.offsetS + chunk.startS, chunk.endS - chunk.startS, Math.exp(result.meanLogProb), aligned[index]);
      segments.push(...chunkSegments.map((segment) => ({ ...segment, decoding })));
    });
    return segments;
  }

  /**
   * `<|startofprev|>` and the prompt's last tokens, as openai-whisper builds its initial
   * prompt: at most half the context less one (223 tokens for Whisper's 448), so the text
   * still has room. Nothing without a prompt, or for a vocabulary without `<|startofprev|>`.
   */
  promptTokens(prompt: string | undefined): number[] {
    const { tokenizer, config } = this.files;
    const text = prompt?.trim();
    if (!text || tokenizer.special.startOfPrev === null) return [];
    const limit = Math.floor(config.max_target_positions / 2) - 1;
    return [tokenizer.special.startOfPrev, ...tokenizer.encode(` ${text}`).slice(-limit)];
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
