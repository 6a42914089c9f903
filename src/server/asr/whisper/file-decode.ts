import type { TranscriptionTask } from "../../../shared/transcription-task";
import type { AudioWindow, TranscriptSegment } from "../engine";
import { BeamGroup, GreedyGroup, SampledGroup, type DecodedSequence, type GroupRules, type SequenceGroup } from "./decode-groups";
import type { ChunkDecode, DecodeScheduler } from "./decode-scheduler";
import { attemptSeed, compressionRatio, judgedSilent, needsFallback, seededRandom, type AttemptScore, type FallbackThresholds } from "./fallback";
import { logSoftmaxAt } from "./greedy-decode";
import type { WhisperModelFiles } from "./model-files";
import { cutTrailingLoop, endsInLoop } from "./repetition";
import { createWhisperLogitRules } from "./timestamp-rules";
import { tokensToSegments } from "./tokens-to-segments";
import type { AlignedWord, SpeechSpan } from "./word-alignment";
import type { DecoderStep } from "./whisper-sessions";

/**
 * `<|startofprev|>` and the last tokens of `history` that fit, as openai-whisper builds a
 * prompt: half the context less one (223 tokens for Whisper's 448), so the text has room.
 * Nothing for an empty history or a vocabulary without `<|startofprev|>`.
 */
export function previousTextTokens(files: Pick<WhisperModelFiles, "tokenizer" | "config">, history: readonly number[]): number[] {
  const { tokenizer, config } = files;
  if (!history.length || tokenizer.special.startOfPrev === null) return [];
  return [tokenizer.special.startOfPrev, ...history.slice(-(Math.floor(config.max_target_positions / 2) - 1))];
}

/** openai-whisper drops the previous text after a window kept at a temperature above this. */
const PROMPT_RESET_TEMPERATURE = 0.5;

export type FileDecodeSettings = {
  temperatures: readonly number[];
  thresholds: FallbackThresholds;
  bestOf: number;
  beamSize: number;
  maxNewTokens: number;
  minNewTokens: number;
  stopOnLoops: boolean;
};

export type FileDecodeRequest = {
  language: string;
  task: TranscriptionTask;
  /** File time of the chunks' times' zero. */
  offsetS: number;
  weight: number;
  seed: number;
  /** The initial prompt's tokens (after `<|startofprev|>`), already cut to fit. */
  initialPrompt: readonly number[];
  signal: AbortSignal;
  onProgress?: (fraction: number) => void;
};

/** What the engine lends a file's decode: its model, scheduler, features and aligner. */
export type FileDecodeContext = {
  files: WhisperModelFiles;
  scheduler: DecodeScheduler;
  settings: FileDecodeSettings;
  features: (chunk: AudioWindow) => Float32Array;
  /** Null: words are spread over segments instead (the model cannot be aligned). */
  aligner: { layers: readonly number[]; align: (output: DecoderStep, tokens: readonly number[], promptLength: number, chunk: AudioWindow) => AlignedWord[] } | null;
};

type Kept = { result: DecodedSequence; score: AttemptScore; temperature: number };

/**
 * One file's chunks through the shared scheduler, as openai-whisper's transcribe() treats
 * its windows: each is decoded at the first temperature and again at the next while it
 * fails the checks (fallback.ts); a window the model judges silent is dropped; the attempt
 * kept is aligned for word times. Without conditioning every chunk is in flight at once and
 * each round retries the failing ones; with it (condition_on_previous_text) the chunks go one
 * by one, each prompted with the text before it.
 */
export class FileDecode {
  private readonly noSpeech: number[];
  private readonly kept: (Kept | undefined)[];
  private readonly aligned: (AlignedWord[] | undefined)[];
  private readonly startSequence: number[];
  /** Whisper's timestamp and suppression rules, as logit filters (the same for every chunk). */
  private readonly whisperRules: ReturnType<typeof createWhisperLogitRules>;
  /** Each result's checks, computed once (decoding its text and compressing it is not free). */
  private readonly scores = new WeakMap<DecodedSequence, AttemptScore>();
  private readonly totalS: number;
  private doneS = 0;

  constructor(
    private readonly context: FileDecodeContext,
    private readonly chunks: readonly AudioWindow[],
    private readonly request: FileDecodeRequest,
  ) {
    const { special } = context.files.tokenizer;
    this.noSpeech = new Array<number>(chunks.length).fill(0);
    this.kept = new Array<Kept | undefined>(chunks.length);
    this.aligned = new Array<AlignedWord[] | undefined>(chunks.length);
    this.startSequence = [special.startOfTranscript, special.languages.get(request.language)!, request.task === "translate" ? special.translate : special.transcribe];
    this.whisperRules = createWhisperLogitRules({
      special,
      suppressTokens: context.files.generation.suppress_tokens,
      beginSuppressTokens: context.files.generation.begin_suppress_tokens,
      timestamps: true,
      maxInitialTimestampS: 1,
      minNewTokens: context.settings.minNewTokens,
    });
    this.totalS = chunks.reduce((sum, chunk) => sum + chunk.endS - chunk.startS, 0);
  }

  /** Every chunk in flight together; each round decodes the failing ones at the next temperature. */
  async inRounds(): Promise<TranscriptSegment[]> {
    const previousText = this.previousText(this.request.initialPrompt);
    let pending = this.chunks.map((_, index) => index);
    for (let attempt = 0; attempt < this.context.settings.temperatures.length && pending.length > 0; attempt++) {
      pending = await this.attempt(pending, attempt, previousText);
    }
    return this.segments();
  }

  /**
   * openai-whisper's condition_on_previous_text: one chunk at a time, each prompted with the
   * initial prompt and the tokens decoded so far (the last 223), reset after a window kept at
   * a temperature above 0.5 (its text is likely poor and would mislead the next).
   */
  async inOrder(): Promise<TranscriptSegment[]> {
    let history = [...this.request.initialPrompt];
    for (let index = 0; index < this.chunks.length; index++) {
      const previousText = this.previousText(history);
      for (let attempt = 0; attempt < this.context.settings.temperatures.length; attempt++) {
        if ((await this.attempt([index], attempt, previousText)).length === 0) break;
      }
      const kept = this.kept[index];
      if (!kept || kept.temperature > PROMPT_RESET_TEMPERATURE) history = [];
      else if (!judgedSilent(kept.score, this.context.settings.thresholds)) history.push(...this.cleaned(kept.result.tokens));
    }
    return this.segments();
  }

  /** Decodes `indices` at one temperature; returns those that failed the checks and may go on. */
  private async attempt(indices: readonly number[], attempt: number, previousText: readonly number[]): Promise<number[]> {
    const decoded = await this.context.scheduler.decode({
      chunks: indices.map((index) => this.chunkDecode(index, attempt, previousText)),
      weight: this.request.weight,
      signal: this.request.signal,
      onChunkDone: (k) => {
        // Progress counts a chunk once, at its first attempt; retries are rare and short.
        if (attempt > 0) return;
        const chunk = this.chunks[indices[k]!]!;
        this.doneS += chunk.endS - chunk.startS;
        this.request.onProgress?.(this.totalS > 0 ? this.doneS / this.totalS : 1);
      },
    });
    const retry: number[] = [];
    decoded.forEach((result, k) => {
      const index = indices[k]!;
      this.kept[index] = { result, score: this.score(index, result), temperature: this.context.settings.temperatures[attempt]! };
      if (!this.stands(index, result, attempt)) retry.push(index);
    });
    return retry;
  }

  private chunkDecode(index: number, attempt: number, previousText: readonly number[]): ChunkDecode {
    const { special } = this.context.files.tokenizer;
    const prompt = [...previousText, ...this.startSequence];
    const rules = this.rules(prompt.length);
    const { aligner } = this.context;
    return {
      features: () => this.context.features(this.chunks[index]!),
      prompt,
      group: () => this.group(rules, index, attempt),
      onPromptLogits: (logits) => {
        if (special.noSpeech !== null) this.noSpeech[index] = Math.exp(logSoftmaxAt(logits, special.noSpeech));
      },
      ...(aligner
        ? {
            alignment: {
              layers: aligner.layers,
              // Only the attempt that stands is aligned, and only if it is kept (not judged silent).
              tokensFor: (result: DecodedSequence) => {
                const text = this.cleaned(result.tokens).filter((token) => token < special.endOfText);
                if (!text.length || !this.stands(index, result, attempt) || judgedSilent(this.score(index, result), this.context.settings.thresholds)) return null;
                // openai-whisper aligns over the start sequence alone, without the previous text.
                return [...this.startSequence, special.noTimestamps, ...text, special.endOfText];
              },
              read: (output: DecoderStep, tokens: readonly number[]) => {
                this.aligned[index] = aligner.align(output, tokens, this.startSequence.length, this.chunks[index]!);
              },
            },
          }
        : {}),
    };
  }

  private group(rules: GroupRules, index: number, attempt: number): SequenceGroup {
    const { settings } = this.context;
    const temperature = settings.temperatures[attempt]!;
    // Seeded by where the chunk starts in the file, not its place in this call: a file shared
    // out over several slots samples what it samples on one.
    const chunkKey = Math.round((this.request.offsetS + this.chunks[index]!.startS) * 1000);
    if (temperature > 0) return new SampledGroup(rules, temperature, settings.bestOf, seededRandom(attemptSeed(this.request.seed, chunkKey, attempt)));
    return settings.beamSize > 1 ? new BeamGroup(rules, settings.beamSize) : new GreedyGroup(rules);
  }

  private rules(promptLength: number): GroupRules {
    const { files, settings } = this.context;
    const { special } = files.tokenizer;
    return {
      maxNewTokens: Math.min(settings.maxNewTokens, files.generation.max_length - promptLength),
      endOfText: special.endOfText,
      filterLogits: this.whisperRules,
      ...(settings.stopOnLoops ? { shouldStop: (generated: readonly number[]) => endsInLoop(generated) } : {}),
    };
  }

  private previousText(history: readonly number[]): number[] {
    return previousTextTokens(this.context.files, history);
  }

  /** The attempt's figures; p(no speech) is read at its prefill, before the result exists. */
  private score(index: number, result: DecodedSequence): AttemptScore {
    let score = this.scores.get(result);
    if (!score) {
      score = {
        avgLogProb: result.meanLogProb,
        // Of the text as decoded, loop and all: the repetition is what the ratio measures.
        compressionRatio: compressionRatio(this.context.files.tokenizer.decode(result.tokens).trim()),
        noSpeechProb: this.noSpeech[index]!,
        looped: result.looped ?? false,
      };
      this.scores.set(result, score);
    }
    return score;
  }

  /** Whether this attempt stands: it passes the checks, or there is no higher temperature to try. */
  private stands(index: number, result: DecodedSequence, attempt: number): boolean {
    return attempt === this.context.settings.temperatures.length - 1 || !needsFallback(this.score(index, result), this.context.settings.thresholds);
  }

  /** A chunk's tokens with a trailing loop cut to one copy. */
  private cleaned(tokens: readonly number[]): number[] {
    return this.context.settings.stopOnLoops ? cutTrailingLoop(tokens) : [...tokens];
  }

  /** The chunk's speech regions (file time, as it carries them) in chunk time, cut to the chunk. */
  private speechIn(chunk: AudioWindow): SpeechSpan[] {
    return (chunk.speech ?? []).map((span) => ({ startS: Math.max(span.startS, chunk.startS) - chunk.startS, endS: Math.min(span.endS, chunk.endS) - chunk.startS }));
  }

  private segments(): TranscriptSegment[] {
    const segments: TranscriptSegment[] = [];
    this.kept.forEach((kept, index) => {
      if (!kept || judgedSilent(kept.score, this.context.settings.thresholds)) return;
      const chunk = this.chunks[index]!;
      const { result, score, temperature } = kept;
      const decoding = { avgLogProb: score.avgLogProb, compressionRatio: score.compressionRatio, noSpeechProb: score.noSpeechProb, temperature };
      const chunkSegments = tokensToSegments(this.cleaned(result.tokens), this.context.files.tokenizer, this.request.offsetS + chunk.startS, chunk.endS - chunk.startS, Math.exp(result.meanLogProb), this.aligned[index], this.speechIn(chunk));
      segments.push(...chunkSegments.map((segment) => ({ ...segment, decoding })));
    });
    return segments;
  }
}
