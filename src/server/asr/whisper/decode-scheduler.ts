import type * as ort from "onnxruntime-node";
import { describeError } from "../../errors";
import type { DecodedSequence, SequenceGroup } from "./decode-groups";
import { emptyPastLike, gatherRows, gatherSelfKv, KvRowSlab, stepAttentionMask, type RowSource } from "./kv-rows";
import type { DecoderStep, KvCache, WhisperSessions } from "./whisper-sessions";

/** A turn of the event loop shorter than this ran nothing but the scheduler's own callback. */
const IDLE_TURN_MS = 0.05;

/**
 * The batch's K/V buffer is kept this long after the last decode ends. Files arrive in gaps
 * (each is decoded and run through the VAD first), and the batch often empties between
 * them; mapping the buffer afresh each time costs a page fault per 4 KiB (seen at ~15 µs
 * each in a VM: 0.3 s per 37 MB row of whisper-base).
 */
const IDLE_RELEASE_MS = 10_000;

/** One chunk to decode, as the engine describes it. */
export type ChunkDecode = {
  /** Its log-mel features ([mels × frames]); computed when the chunk is admitted, not before. */
  features: () => Float32Array;
  /** The forced start (<|startoftranscript|>, language, task). */
  prompt: readonly number[];
  /** Its decoding state (greedy or beam), created when it is admitted. */
  group: () => SequenceGroup;
  /** The prompt's logits at its first position (Whisper's no-speech probability is read there). */
  onPromptLogits?: (logits: Float32Array) => void;
  /** Word alignment: one more decoder call over the chunk's text once it is decoded. */
  alignment?: ChunkAlignment;
};

/**
 * When a chunk's decoding ends, the decoder is run once more, with the chunk's audio (its
 * cross-attention K/V, still in the batch) over the tokens `tokensFor` gives, and `read`
 * takes what it needs from that call's output (the named layers' cross-attention): word
 * timestamps are aligned from it (word-alignment.ts). The call runs while the chunk's K/V
 * are at hand, so nothing of the chunk's audio is kept after it leaves the batch.
 */
export type ChunkAlignment = {
  /** The sequence to run (prompt, <|notimestamps|>, text, <|endoftext|>); null: nothing to align. */
  tokensFor: (result: DecodedSequence) => readonly number[] | null;
  layers: readonly number[];
  read: (output: DecoderStep, tokens: readonly number[]) => void;
};

/** One transcription's chunks; the scheduler decodes them alongside every other request's. */
export type DecodeRequest = {
  chunks: readonly ChunkDecode[];
  /** Rows this request gets, relative to others, while requests compete for the batch. */
  weight: number;
  signal: AbortSignal;
  /** Called as each chunk's decoding ends, in any order. */
  onChunkDone?: (index: number) => void;
};

export type DecodeSchedulerOptions = {
  /** Rows of one decoder call at most (a beam-search chunk takes beamSize rows). */
  maxRows: number;
  /** Chunks admitted at most in one round between decoder steps. */
  encodeBatch: number;
  /**
   * Chunks prefilled (encoder + prompt call) together at most; default: `encodeBatch` where
   * the sessions run a batch as one (CUDA), else 1. On CPU a prefill of n chunks costs n
   * prefills of one (a 1500-frame chunk already fills the cores) while its transient
   * buffers (each chunk's cross-attention K/V and the projections behind them) grow with n:
   * a 3-chunk prefill faulted in 18,000–25,000 fresh pages, a single one about 900
   * (whisper-base, 2 vCPUs, glibc trim threshold set).
   */
  prefillBatch?: number;
  /** Chunks in one decoder call at most (int8 models decode one at a time); default: as rows allow. */
  maxChunks?: number;
};

/** Counters for benchmarks and health: mean occupancy is rowSteps / steps. */
export type DecodeSchedulerStats = { steps: number; rowSteps: number; prefills: number; chunks: number; relayouts: number; alignments: number };

type Request = {
  spec: DecodeRequest;
  order: number;
  /** Next chunk index to admit. */
  next: number;
  results: (DecodedSequence | undefined)[];
  remaining: number;
  /** Rows reserved by this request's chunks in the batch. */
  rows: number;
  /** Set once the request has failed or been cancelled: its rows leave at the next step. */
  ended: boolean;
  resolve: (results: DecodedSequence[]) => void;
  reject: (error: unknown) => void;
};

/** A chunk in the batch: its group and, per row it occupies, the row's past length and next token. */
type Active = { request: Request; index: number; group: SequenceGroup; lengths: number[]; tokens: number[] };

/** A decoded chunk waiting for its alignment call, with a copy of its cross-attention K/V. */
type Finished = { request: Request; index: number; result: DecodedSequence; tokens: readonly number[]; cross: Map<string, ort.Tensor> };

/** A chunk about to take rows in the next call, with where its rows' K/V come from. */
type Placed = Active & { self: RowSource[]; cross: Omit<RowSource, "length">[] };

/**
 * Continuous batching for Whisper decoding, over one set of sessions shared by every
 * transcription in the process (vLLM's idea, on onnxruntime):
 * - chunks of all requests in flight join one decoder batch; every row advances one token
 *   per call; a finished chunk leaves at once and waiting chunks take its rows (after an
 *   encoder + prefill call of their own);
 * - rows sit at different positions (left-padded K/V, per-row attention mask and position
 *   ids) when the decoder accepts them; otherwise (optimum's exports) rows must share a
 *   position, so chunks join only when the batch has emptied and still leave early;
 * - admission is fair: the next free row goes to the request with the fewest rows per
 *   weight, so short files get rows while a long one runs;
 * - a request that is cancelled or fails loses its rows at the next step; the others in the
 *   batch carry on. A decoder call that fails fails the requests in that call only.
 */
export class DecodeScheduler {
  private readonly waiting: Request[] = [];
  private active: Active[] = [];
  private toAlign: Finished[] = [];
  private self: Map<string, ort.Tensor> = new Map();
  /** The batch's cross-attention K/V, rearranged in place as rows come and go. */
  private readonly crossSlab: KvRowSlab;
  private pastLength = 0;
  private running: Promise<void> | null = null;
  private idleRelease: NodeJS.Timeout | null = null;
  private order = 0;
  private readonly counters: DecodeSchedulerStats = { steps: 0, rowSteps: 0, prefills: 0, chunks: 0, relayouts: 0, alignments: 0 };
  private readonly selfNames: string[];
  private readonly crossNames: string[];

  constructor(
    private readonly sessions: WhisperSessions,
    private readonly options: DecodeSchedulerOptions,
  ) {
    const names = (part: "decoder" | "encoder") => Array.from({ length: sessions.layers }, (_, layer) => ["key", "value"].map((kind) => `past_key_values.${layer}.${part}.${kind}`)).flat();
    this.selfNames = names("decoder");
    this.crossNames = names("encoder");
    this.crossSlab = new KvRowSlab(this.crossNames, options.maxRows);
  }

  stats(): DecodeSchedulerStats {
    return { ...this.counters };
  }

  /** Decodes a request's chunks; resolves with their results in chunk order. */
  decode(spec: DecodeRequest): Promise<DecodedSequence[]> {
    spec.signal.throwIfAborted();
    if (spec.chunks.length === 0) return Promise.resolve([]);
    return new Promise<DecodedSequence[]>((resolve, reject) => {
      const onAbort = () => this.end(request, spec.signal.reason);
      const request: Request = {
        spec,
        order: this.order++,
        next: 0,
        results: new Array(spec.chunks.length),
        remaining: spec.chunks.length,
        rows: 0,
        ended: false,
        resolve: (results) => {
          spec.signal.removeEventListener("abort", onAbort);
          resolve(results);
        },
        reject: (error) => {
          spec.signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      spec.signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(request);
      this.kick();
    });
  }

  /**
   * Starts the decode loop unless it runs. It starts on the next turn of the event loop, so
   * requests submitted together are admitted together (and share the first batch fairly).
   */
  private kick(): void {
    if (this.running) return;
    if (this.idleRelease) clearTimeout(this.idleRelease);
    this.idleRelease = null;
    this.running = new Promise((resolve) => setImmediate(resolve))
      .then(() => this.loop())
      .finally(() => {
        this.running = null;
        // A request that arrived as the loop was ending.
        if (this.waiting.some((request) => !request.ended)) this.kick();
        else this.idleRelease = setTimeout(() => this.crossSlab.release(), IDLE_RELEASE_MS).unref();
      });
  }

  /** Resolves once the decode loop has stopped (nothing in flight or waiting). */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Whether the batch's K/V buffer is held (it is dropped once the scheduler has been idle a while). */
  get holdsKvBuffer(): boolean {
    return this.crossSlab.allocated;
  }

  private end(request: Request, error: unknown): void {
    if (request.ended) return;
    request.ended = true;
    request.reject(error);
  }

  private async loop(): Promise<void> {
    for (;;) {
      this.forgetEnded();
      if (this.active.length === 0 && this.waiting.length === 0) break;
      const from = performance.now();
      try {
        const survivors = this.active.length ? await this.step() : [];
        const joiners = await this.admit(survivors);
        await this.alignFinished();
        this.place([...survivors, ...joiners]);
      } catch (error) {
        // A fault of the scheduler itself (not of one chunk): nothing in flight can be trusted.
        for (const request of [...this.waiting, ...this.active.map((chunk) => chunk.request), ...this.toAlign.map((chunk) => chunk.request)]) {
          request.rows = 0;
          this.end(request, error);
        }
        this.toAlign = [];
        this.place([]);
      }
      await this.shareThread(performance.now() - from);
    }
  }

  /**
   * Yields the thread between calls. onnxruntime-node runs a session synchronously on the
   * calling thread, so everything else on it (the VAD's window-by-window runs, reading
   * ffmpeg's output, new requests, aborts) advances only in these gaps: one turn of the
   * event loop per call would give a VAD one 32 ms window per decoder step, and files would
   * reach the batch too slowly to fill it. So the gap lasts until other work has had as
   * much time as the call took, or until a turn comes back with nothing else having run.
   */
  private async shareThread(callMs: number): Promise<void> {
    const until = performance.now() + callMs;
    for (;;) {
      const before = performance.now();
      await new Promise((resolve) => setImmediate(resolve));
      const after = performance.now();
      if (after - before < IDLE_TURN_MS || after >= until) return;
    }
  }

  /** Drops finished/failed requests from the waiting list. */
  private forgetEnded(): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const request = this.waiting[i]!;
      if (request.ended || request.next >= request.spec.chunks.length) this.waiting.splice(i, 1);
    }
  }

  /** One cached decoder call for every row in the batch; returns the chunks that go on. */
  private async step(): Promise<Placed[]> {
    const rows = this.active.flatMap((chunk) => chunk.lengths.map((length, j) => ({ length, token: chunk.tokens[j]! })));
    const lengths = rows.map((row) => row.length);
    let out;
    try {
      out = await this.sessions.run({
        tokens: BigInt64Array.from(rows.map((row) => BigInt(row.token))),
        batch: rows.length,
        encoderHidden: null,
        past: new Map([...this.self, ...this.crossSlab.tensors]) as KvCache,
        ...(this.sessions.acceptsRowPositions ? { attentionMask: stepAttentionMask(lengths, this.pastLength), positionIds: BigInt64Array.from(lengths.map(BigInt)) } : {}),
      });
    } catch (error) {
      // Which row broke the call cannot be told: the requests in it fail; waiting ones go on.
      for (const chunk of this.active) this.end(chunk.request, new Error(`Decoding failed: ${describeError(error)}`));
      for (const chunk of this.active) chunk.request.rows -= chunk.group.maxWidth;
      this.active = [];
      return [];
    }
    this.counters.steps++;
    this.counters.rowSteps += rows.length;
    const present = new Map(this.selfNames.map((name) => [name, out.cache.get(name)!]));
    const survivors: Placed[] = [];
    let row = 0;
    for (const chunk of this.active) {
      const first = row;
      row += chunk.lengths.length;
      if (chunk.request.ended) {
        chunk.request.rows -= chunk.group.maxWidth;
        continue;
      }
      const logits = chunk.lengths.map((_, j) => out.logits.slice((first + j) * out.vocab, (first + j + 1) * out.vocab));
      const width = chunk.lengths.length;
      const placed = this.continueChunk(chunk, logits, (parent, j) => ({
        self: { tensors: present, row: first + parent, length: chunk.lengths[parent]! + 1 },
        // A chunk's rows share their cross-attention K/V: row j keeps the row it had, so a
        // beam's reordering does not move them.
        cross: { tensors: this.crossSlab.tensors, row: first + Math.min(j, width - 1) },
      }));
      if (placed) survivors.push(placed);
    }
    return survivors;
  }

  /**
   * Feeds a chunk's logits to its group. Returns the chunk placed for the next call, or null
   * when it finished (its result is recorded) or failed (its request ends).
   */
  private continueChunk(chunk: Omit<Active, "lengths" | "tokens">, logits: Float32Array[], sourceOf: (parent: number, row: number) => { self: RowSource; cross: Omit<RowSource, "length"> }): Placed | null {
    const { request } = chunk;
    let advance;
    try {
      advance = chunk.group.advance(logits);
    } catch (error) {
      request.rows -= chunk.group.maxWidth;
      this.end(request, error);
      return null;
    }
    if (chunk.group.finished) {
      request.rows -= chunk.group.maxWidth;
      const result = chunk.group.result();
      const tokens = this.alignmentTokens(request, chunk.index, result);
      // A beam's rows share the chunk's audio K/V: any row's will do.
      if (tokens) this.toAlign.push({ request, index: chunk.index, result, tokens, cross: gatherRows(this.crossNames, [sourceOf(0, 0).cross]) });
      else if (tokens === null) this.finishChunk(request, chunk.index, result);
      return null;
    }
    const sources = advance.parents.map(sourceOf);
    return {
      ...chunk,
      lengths: sources.map((source) => source.self.length),
      tokens: advance.tokens,
      self: sources.map((source) => source.self),
      cross: sources.map((source) => source.cross),
    };
  }

  /** The chunk's alignment sequence; null when it has none; undefined when asking failed (its request ended). */
  private alignmentTokens(request: Request, index: number, result: DecodedSequence): readonly number[] | null | undefined {
    const alignment = request.spec.chunks[index]!.alignment;
    if (!alignment) return null;
    try {
      return alignment.tokensFor(result);
    } catch (error) {
      this.end(request, error);
      return undefined;
    }
  }

  /**
   * Runs the alignment call of each chunk that finished in this round, one chunk per call
   * (its past holds no self-attention positions yet: the whole sequence goes in at once).
   * A failed call fails its chunk's request only.
   */
  private async alignFinished(): Promise<void> {
    const finished = this.toAlign;
    this.toAlign = [];
    for (const chunk of finished) {
      if (chunk.request.ended) continue;
      const alignment = chunk.request.spec.chunks[chunk.index]!.alignment!;
      try {
        const like = chunk.cross.get(this.crossNames[0]!)!;
        const past = new Map(chunk.cross);
        for (const name of this.selfNames) past.set(name, emptyPastLike(like, 1));
        const output = await this.sessions.run({ tokens: BigInt64Array.from(chunk.tokens.map(BigInt)), batch: 1, encoderHidden: null, past, crossAttentionLayers: alignment.layers });
        this.counters.alignments++;
        alignment.read(output, chunk.tokens);
      } catch (error) {
        this.end(chunk.request, new Error(`Word alignment failed: ${describeError(error)}`));
        continue;
      }
      this.finishChunk(chunk.request, chunk.index, chunk.result);
    }
  }

  private finishChunk(request: Request, index: number, result: DecodedSequence): void {
    this.counters.chunks++;
    request.results[index] = result;
    request.remaining--;
    try {
      request.spec.onChunkDone?.(index);
    } catch {
      // Progress is advisory.
    }
    if (request.remaining === 0 && !request.ended) {
      request.ended = true;
      request.resolve(request.results as DecodedSequence[]);
    }
  }

  /**
   * Takes waiting chunks into free rows: fairest request first, up to `encodeBatch` per
   * round; encodes them and runs their prompt (prefill), which also chooses their first token.
   */
  private async admit(survivors: readonly Placed[]): Promise<Placed[]> {
    // Without per-row positions every row must be at the same position: join an empty batch only.
    if (survivors.length && !this.sessions.acceptsRowPositions) return [];
    let free = this.options.maxRows - survivors.reduce((sum, chunk) => sum + chunk.group.maxWidth, 0);
    const picked: Omit<Active, "lengths" | "tokens">[] = [];
    const maxChunks = this.options.maxChunks ?? Number.POSITIVE_INFINITY;
    while (free > 0 && picked.length < this.options.encodeBatch && survivors.length + picked.length < maxChunks) {
      const request = this.fairest();
      if (!request) break;
      const index = request.next;
      let group: SequenceGroup;
      try {
        group = request.spec.chunks[index]!.group();
      } catch (error) {
        this.end(request, error);
        continue;
      }
      if (group.maxWidth > free) break;
      request.next++;
      request.rows += group.maxWidth;
      free -= group.maxWidth;
      picked.push({ request, index, group });
    }
    if (!picked.length) return [];
    const byPrompt = new Map<number, typeof picked>();
    for (const chunk of picked) {
      const length = chunk.request.spec.chunks[chunk.index]!.prompt.length;
      byPrompt.set(length, [...(byPrompt.get(length) ?? []), chunk]);
    }
    const perCall = Math.max(1, this.options.prefillBatch ?? (this.sessions.batchesChunks ? this.options.encodeBatch : 1));
    const joined: Placed[] = [];
    for (const group of byPrompt.values()) {
      for (let from = 0; from < group.length; from += perCall) joined.push(...(await this.prefillIsolated(group.slice(from, from + perCall))));
    }
    return joined;
  }

  /** The request with waiting chunks that holds the fewest rows per weight (oldest first on ties). */
  private fairest(): Request | null {
    let best: Request | null = null;
    for (const request of this.waiting) {
      if (request.ended || request.next >= request.spec.chunks.length) continue;
      const load = request.rows / Math.max(1, request.spec.weight);
      if (!best || load < best.rows / Math.max(1, best.spec.weight)) best = request;
    }
    return best;
  }

  /** Prefills chunks together; if that fails, one by one, so one bad chunk fails only its own request. */
  private async prefillIsolated(chunks: Omit<Active, "lengths" | "tokens">[]): Promise<Placed[]> {
    try {
      return await this.prefill(chunks);
    } catch (error) {
      if (chunks.length === 1) {
        const [chunk] = chunks;
        chunk!.request.rows -= chunk!.group.maxWidth;
        this.end(chunk!.request, error);
        return [];
      }
    }
    const placed: Placed[] = [];
    for (const chunk of chunks) placed.push(...(await this.prefillIsolated([chunk])));
    return placed;
  }

  private async prefill(chunks: Omit<Active, "lengths" | "tokens">[]): Promise<Placed[]> {
    const live = chunks.filter((chunk) => !chunk.request.ended);
    for (const chunk of chunks) if (chunk.request.ended) chunk.request.rows -= chunk.group.maxWidth;
    if (!live.length) return [];
    const specs = live.map((chunk) => chunk.request.spec.chunks[chunk.index]!);
    const features = specs.map((spec) => spec.features());
    const all = new Float32Array(features.reduce((sum, f) => sum + f.length, 0));
    let offset = 0;
    for (const f of features) {
      all.set(f, offset);
      offset += f.length;
    }
    const hidden = await this.sessions.encode(all, live.length);
    const promptLength = specs[0]!.prompt.length;
    const out = await this.sessions.run({ tokens: BigInt64Array.from(specs.flatMap((spec) => spec.prompt.map(BigInt))), batch: live.length, encoderHidden: hidden, past: null });
    this.counters.prefills++;
    const self = new Map(this.selfNames.map((name) => [name, out.cache.get(name)!]));
    const cross = new Map(this.crossNames.map((name) => [name, out.cache.get(name)!]));
    const placed: Placed[] = [];
    live.forEach((chunk, i) => {
      const base = i * promptLength * out.vocab;
      try {
        specs[i]!.onPromptLogits?.(out.logits.subarray(base, base + out.vocab));
      } catch (error) {
        chunk.request.rows -= chunk.group.maxWidth;
        this.end(chunk.request, error);
        return;
      }
      const last = out.logits.slice(base + (promptLength - 1) * out.vocab, base + promptLength * out.vocab);
      const next = this.continueChunk(chunk, [last], () => ({ self: { tensors: self, row: i, length: promptLength }, cross: { tensors: cross, row: i } }));
      if (next) placed.push(next);
    });
    return placed;
  }

  /** Makes `chunks` the batch of the next call, rebuilding the K/V tensors only as far as rows moved. */
  private place(chunks: Placed[]): void {
    this.active = chunks.map(({ request, index, group, lengths, tokens }) => ({ request, index, group, lengths, tokens }));
    if (!chunks.length) {
      this.self = new Map();
      this.crossSlab.clear();
      this.pastLength = 0;
      return;
    }
    const self = chunks.flatMap((chunk) => chunk.self);
    const cross = chunks.flatMap((chunk) => chunk.cross);
    const pastLength = Math.max(...self.map((source) => source.length));
    if (!this.sessions.acceptsRowPositions && self.some((source) => source.length !== pastLength)) {
      throw new Error("Rows at different positions in a decoder that takes no position ids");
    }
    // The common step: every row continues itself, none joined or left: the call's own
    // output is the next input as it is.
    const firstTensors = self[0]!.tensors;
    const unchanged = (sources: readonly Omit<RowSource, "length">[], tensors: ReadonlyMap<string, ort.Tensor>, rows: number) =>
      sources.length === rows && sources.every((source, row) => source.tensors === tensors && source.row === row);
    const selfRows = firstTensors.get(this.selfNames[0]!)!.dims[0]!;
    const selfLength = firstTensors.get(this.selfNames[0]!)!.dims[2]!;
    this.self = unchanged(self, firstTensors, selfRows) && selfLength === pastLength ? new Map(firstTensors) : gatherSelfKv(this.selfNames, self, pastLength);
    const crossRows = this.crossSlab.tensors.get(this.crossNames[0]!)?.dims[0] ?? -1;
    if (!unchanged(cross, this.crossSlab.tensors, crossRows)) {
      this.crossSlab.arrange(cross);
      this.counters.relayouts++;
    }
    this.pastLength = pastLength;
  }
}
