import * as ort from "onnxruntime-node";
import { fromFloat16, toFloat16 } from "./float16";
import type { WhisperModelFiles } from "./model-files";

/** Per-layer key/value tensors of the decoder's self-attention and cross-attention. */
export type KvCache = Map<string, ort.Tensor>;

export type SessionOptions = {
  /** "cuda" falls back to CPU where the CUDA provider is not installed. */
  provider: "cpu" | "cuda";
  /** Threads one session may use for one operator. */
  intraOpThreads: number;
  /** Keep the encoder's activations in onnxruntime's arena between runs (default true). */
  encoderArena?: boolean;
};

export type DecoderCall = {
  /** [batch × steps] token ids. */
  tokens: BigInt64Array;
  batch: number;
  /** The encoder states, on a sequence's first call. */
  encoderHidden: ort.Tensor | null;
  /** Self- and cross-attention K/V of earlier calls; null on the first. */
  past: KvCache | null;
  /** [batch × (past + steps)]: 1 = a real key, 0 = padding. Only for decoders that accept it. */
  attentionMask?: BigInt64Array;
  /** [batch × steps]: each new token's position. Only for decoders that accept it. */
  positionIds?: BigInt64Array;
  /**
   * Layers whose cross-attention probabilities to return (word alignment). Decoding steps
   * leave this out: the outputs are [batch × heads × steps × frames] per layer, and copying
   * them out of onnxruntime on every step would cost megabytes per call.
   */
  crossAttentionLayers?: readonly number[];
};

export type DecoderStep = {
  /** [batch × steps × vocab] logits, row-major. */
  logits: Float32Array;
  steps: number;
  vocab: number;
  cache: KvCache;
  /** The requested layers' cross-attention, float32 [batch × heads × steps × frames]. */
  crossAttentions: Map<number, { data: Float32Array; dims: readonly number[] }>;
};

/** The decoders' cross-attention outputs, named as in HF's exports for word timestamps. */
export const crossAttentionName = (layer: number) => `cross_attentions.${layer}`;

export const kvName = (prefix: "past_key_values" | "present", layer: number, part: "decoder" | "encoder", kind: "key" | "value") => `${prefix}.${layer}.${part}.${kind}`;

/**
 * The ONNX sessions of one engine slot, created once and reused. Hides the difference
 * between a merged decoder (one graph with an If on `use_cache_branch`) and the split
 * decoder + decoder-with-past pair, and keeps the cross-attention K/V of the first step,
 * which the cached graphs only pass through.
 */
export class WhisperSessions {
  private constructor(
    private readonly files: WhisperModelFiles,
    private readonly encoder: ort.InferenceSession,
    private readonly decoder: ort.InferenceSession,
    private readonly decoderWithPast: ort.InferenceSession | null,
    readonly provider: string,
  ) {}

  static async create(files: WhisperModelFiles, options: SessionOptions): Promise<WhisperSessions> {
    const base: ort.InferenceSession.SessionOptions = { intraOpNumThreads: options.intraOpThreads, interOpNumThreads: 1, graphOptimizationLevel: "all" };
    const create = async (file: string, arena = false): Promise<{ session: ort.InferenceSession; provider: string }> => {
      if (options.provider === "cuda") {
        try {
          return { session: await ort.InferenceSession.create(file, { ...base, enableCpuMemArena: arena, executionProviders: ["cuda"] }), provider: "cuda" };
        } catch {
          // The CUDA provider's libraries are an optional install (see the README); fall back.
        }
      }
      return { session: await ort.InferenceSession.create(file, { ...base, enableCpuMemArena: arena, executionProviders: ["cpu"] }), provider: "cpu" };
    };
    // The encoder keeps its activations in onnxruntime's arena between runs. Its attention
    // maps are tens of MB per layer: without the arena every run maps them fresh from the
    // system and faults them in page by page (39,000 faults per 30 s chunk for whisper-base),
    // which took half the encoder's time on a 2-vCPU VM (698 → 343 ms per chunk on 2 threads,
    // README "Benchmarks"). It holds one chunk's activations (the CPU encoder takes one
    // chunk at a time, see encode()), about 200 MB for base. The decoders run without it:
    // their largest buffers (a prefill's cross-attention K/V, 37 MB per chunk) scale with the
    // batch, and the arena would keep the largest batch's for good. ASR_ENCODER_ARENA=false
    // trades the speed back for the memory.
    const encoder = await create(files.encoder, options.encoderArena ?? true);
    if (files.decoder.kind === "merged") {
      const merged = await create(files.decoder.merged);
      return new WhisperSessions(files, encoder.session, merged.session, null, encoder.provider);
    }
    const decoder = await create(files.decoder.decoder);
    const withPast = await create(files.decoder.withPast);
    return new WhisperSessions(files, encoder.session, decoder.session, withPast.session, encoder.provider);
  }

  get layers(): number {
    return this.files.config.decoder_layers;
  }

  /** The element type a session declares for an input (fp16 exports take float16 everywhere). */
  private static inputType(session: ort.InferenceSession, name: string): string {
    const meta = session.inputMetadata.find((input) => input.name === name);
    return meta && meta.isTensor ? meta.type : "float32";
  }

  /**
   * Whether several chunks' encoder and prompt calls gain from running as one batch. On CPU
   * they do not: a 1500-position chunk already fills the cores, and a batch only multiplies
   * the transient buffers (the encoder's attention maps, hundreds of MB at batch 4; the
   * prompt call's cross-attention K/V). On CUDA a batch runs in about the time of one chunk.
   */
  get batchesChunks(): boolean {
    return this.provider === "cuda";
  }

  /**
   * features: [batch × mels × frames] → encoder hidden states [batch × positions × d_model].
   * Where batches do not gain (`batchesChunks`), the chunks go through the encoder one at a
   * time and their states are stacked.
   */
  async encode(features: Float32Array, batch: number): Promise<ort.Tensor> {
    const perChunk = features.length / batch;
    if (batch === 1 || this.batchesChunks) return this.encodeBatch(features, batch);
    const states: ort.Tensor[] = [];
    for (let b = 0; b < batch; b++) states.push(await this.encodeBatch(features.subarray(b * perChunk, (b + 1) * perChunk), 1));
    return stackBatch(states);
  }

  private async encodeBatch(features: Float32Array, batch: number): Promise<ort.Tensor> {
    const mels = this.files.features.featureSize;
    const frames = features.length / batch / mels;
    const dims = [batch, mels, frames];
    const input =
      WhisperSessions.inputType(this.encoder, "input_features") === "float16"
        ? new ort.Tensor("float16", toFloat16(features), dims)
        : new ort.Tensor("float32", features, dims);
    const result = await this.encoder.run({ input_features: input });
    return result.last_hidden_state!;
  }

  /**
   * Whether the decoder takes `attention_mask` and `position_ids` (our generator's
   * `--decoder-inputs positions` exports). Only then may rows of one call sit at different
   * positions, which continuous batching needs to let a chunk join a batch mid-flight;
   * optimum's exports derive every row's position from the shared past length.
   */
  get acceptsRowPositions(): boolean {
    return this.decoder.inputNames.includes("position_ids") && this.decoder.inputNames.includes("attention_mask");
  }

  /**
   * Whether every decoder graph returns the cross-attention of `layers` (exports made for
   * word timestamps do, e.g. transformers.js' `*_timestamped` models; plain optimum exports
   * do not, and their words are spread over each segment instead).
   */
  returnsCrossAttention(layers: readonly number[]): boolean {
    const sessions = [this.decoder, ...(this.decoderWithPast ? [this.decoderWithPast] : [])];
    return layers.length > 0 && sessions.every((session) => layers.every((layer) => session.outputNames.includes(crossAttentionName(layer))));
  }

  /**
   * One decoder call. Without a cache, `tokens` is the whole sequence so far ([batch × steps]);
   * with one, just the newest token per sequence. Returns the logits and the grown cache.
   */
  async decode(tokens: BigInt64Array, batch: number, encoderHidden: ort.Tensor, cache: KvCache | null): Promise<DecoderStep> {
    return this.run({ tokens, batch, encoderHidden, past: cache });
  }

  /**
   * One decoder call, with every input explicit. The first call of a sequence gives the
   * encoder states (the cross-attention K/V come back in the cache); later calls give the
   * past. `attentionMask` ([batch × (past + steps)], 1 = a real key) and `positionIds`
   * ([batch × steps]) are fed to decoders that accept them; left out, every row is taken to
   * be unpadded (mask of ones, positions past + 0, 1, …).
   */
  async run(call: DecoderCall): Promise<DecoderStep> {
    const { tokens, batch, past } = call;
    const steps = tokens.length / batch;
    const inputIds = new ort.Tensor("int64", tokens, [batch, steps]);
    const pastLength = past ? past.get(kvName("past_key_values", 0, "decoder", "key"))!.dims[2]! : 0;
    const positionFeeds: Record<string, ort.Tensor> = {};
    if (this.acceptsRowPositions) {
      const mask = call.attentionMask ?? new BigInt64Array(batch * (pastLength + steps)).fill(1n);
      const positions = call.positionIds ?? BigInt64Array.from({ length: batch * steps }, (_, i) => BigInt(pastLength + (i % steps)));
      positionFeeds.attention_mask = new ort.Tensor("int64", mask, [batch, pastLength + steps]);
      positionFeeds.position_ids = new ort.Tensor("int64", positions, [batch, steps]);
    }
    const wanted = new Set((call.crossAttentionLayers ?? []).map(crossAttentionName));
    // Fetch only what is used: never the cross-attention maps unless asked for.
    const fetchesOf = (session: ort.InferenceSession, keep: (name: string) => boolean) => session.outputNames.filter((name) => (name.startsWith("cross_attentions.") ? wanted.has(name) : keep(name)));
    let result: ort.InferenceSession.OnnxValueMapType;
    if (this.decoderWithPast) {
      const session = past ? this.decoderWithPast : this.decoder;
      const feeds: Record<string, ort.Tensor> = past
        ? { input_ids: inputIds, ...this.pastFeeds(past), ...positionFeeds }
        : { input_ids: inputIds, encoder_hidden_states: call.encoderHidden ?? this.placeholderHidden(batch, this.decoder), ...positionFeeds };
      result = await session.run(Object.fromEntries(session.inputNames.map((name) => [name, feeds[name]!])), fetchesOf(session, () => true));
    } else {
      const feeds: Record<string, ort.Tensor> = {
        input_ids: inputIds,
        // A cached step does not read the encoder states (the then-branch uses the past),
        // but the merged graph declares the input: a one-position placeholder satisfies it.
        encoder_hidden_states: call.encoderHidden ?? this.placeholderHidden(batch, this.decoder),
        use_cache_branch: new ort.Tensor("bool", Uint8Array.from([past ? 1 : 0]), [1]),
        ...(past ? this.pastFeeds(past) : this.emptyPast(batch)),
        ...positionFeeds,
      };
      // The merged graph declares only the inputs it uses; feed exactly those.
      // With a cache, the graph only passes the cross-attention K/V through; not fetching
      // them saves copying megabytes per step out of onnxruntime.
      const fetches = fetchesOf(this.decoder, (name) => !past || !name.includes(".encoder."));
      result = await this.decoder.run(Object.fromEntries(this.decoder.inputNames.map((name) => [name, feeds[name]!])), fetches);
    }
    const logits = result.logits!;
    const next: KvCache = new Map();
    for (let layer = 0; layer < this.layers; layer++) {
      for (const kind of ["key", "value"] as const) {
        next.set(kvName("past_key_values", layer, "decoder", kind), result[kvName("present", layer, "decoder", kind)]!);
        // Cross-attention K/V depend on the audio only: keep the first step's.
        const encoderKv = past?.get(kvName("past_key_values", layer, "encoder", kind)) ?? result[kvName("present", layer, "encoder", kind)]!;
        next.set(kvName("past_key_values", layer, "encoder", kind), encoderKv);
      }
    }
    const values = logits.type === "float16" ? fromFloat16(logits.data as Uint16Array) : (logits.data as Float32Array);
    const crossAttentions = new Map<number, { data: Float32Array; dims: readonly number[] }>();
    for (const layer of call.crossAttentionLayers ?? []) {
      const tensor = result[crossAttentionName(layer)];
      if (!tensor) throw new Error(`The decoder returned no ${crossAttentionName(layer)} (needed for word timestamps)`);
      crossAttentions.set(layer, { data: tensor.type === "float16" ? fromFloat16(tensor.data as Uint16Array) : (tensor.data as Float32Array), dims: tensor.dims });
    }
    return { logits: values, steps, vocab: logits.dims[2]!, cache: next, crossAttentions };
  }

  /** A [batch × 1 × d_model] zero tensor of the session's type, for an input a call does not read. */
  private placeholderHidden(batch: number, session: ort.InferenceSession): ort.Tensor {
    const dims = [batch, 1, this.files.config.d_model];
    const size = batch * this.files.config.d_model;
    return WhisperSessions.inputType(session, "encoder_hidden_states") === "float16" ? new ort.Tensor("float16", new Uint16Array(size), dims) : new ort.Tensor("float32", new Float32Array(size), dims);
  }

  private pastFeeds(cache: KvCache): Record<string, ort.Tensor> {
    return Object.fromEntries(cache.entries());
  }

  /** Zero-length past tensors: the merged graph needs its past inputs even on its first call. */
  private emptyPast(batch: number): Record<string, ort.Tensor> {
    const heads = this.files.config.decoder_attention_heads;
    const headDim = this.files.config.d_model / heads;
    const float16 = WhisperSessions.inputType(this.decoder, kvName("past_key_values", 0, "decoder", "key")) === "float16";
    const feeds: Record<string, ort.Tensor> = {};
    for (let layer = 0; layer < this.layers; layer++) {
      for (const part of ["decoder", "encoder"] as const) {
        for (const kind of ["key", "value"] as const) {
          const dims = [batch, heads, 0, headDim];
          feeds[kvName("past_key_values", layer, part, kind)] = float16 ? new ort.Tensor("float16", new Uint16Array(0), dims) : new ort.Tensor("float32", new Float32Array(0), dims);
        }
      }
    }
    return feeds;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.encoder.release(), this.decoder.release(), this.decoderWithPast?.release()]);
  }
}

/** Concatenates [1 × …] tensors of one type and shape into one [n × …] tensor. */
function stackBatch(tensors: readonly ort.Tensor[]): ort.Tensor {
  const first = tensors[0]!;
  const size = first.data.length;
  const dims = [tensors.length, ...first.dims.slice(1)];
  if (first.type === "float16") {
    const data = new Uint16Array(size * tensors.length);
    tensors.forEach((tensor, index) => data.set(tensor.data as Uint16Array, index * size));
    return new ort.Tensor("float16", data, dims);
  }
  const data = new Float32Array(size * tensors.length);
  tensors.forEach((tensor, index) => data.set(tensor.data as Float32Array, index * size));
  return new ort.Tensor("float32", data, dims);
}
