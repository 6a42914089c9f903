import * as ort from "onnxruntime-node";

/**
 * Row surgery on [rows × heads × length × headDim] K/V tensors, for a decoder batch whose
 * rows come and go (continuous batching). Rows are left-padded: a row's real keys are the
 * last `length` positions, and the attention mask hides the padding in front of them.
 */

type KvData = Float32Array | Uint16Array;

/** Where one row of the next decoder call takes its K/V from. */
export type RowSource = {
  /** The tensors (by input name) the row is read from. */
  tensors: ReadonlyMap<string, ort.Tensor>;
  row: number;
  /** Real (unpadded) positions of the row; self-attention only. */
  length: number;
};

/** A tensor over `data`: float16 K/V travel as their raw 16-bit words. */
function tensorOf(data: KvData, dims: readonly number[]): ort.Tensor {
  return data instanceof Uint16Array ? new ort.Tensor("float16", data, dims) : new ort.Tensor("float32", data, dims);
}

function emptyLike(tensor: ort.Tensor, dims: number[]): ort.Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  return tensorOf(tensor.type === "float16" ? new Uint16Array(size) : new Float32Array(size), dims);
}

/**
 * Self-attention K/V for `sources`, right-aligned in `pastLength` positions (padding zero).
 * Each source keeps its last `length` positions, so rows of different ages share a tensor.
 */
export function gatherSelfKv(names: readonly string[], sources: readonly RowSource[], pastLength: number): Map<string, ort.Tensor> {
  const out = new Map<string, ort.Tensor>();
  for (const name of names) {
    const first = sources[0]!.tensors.get(name)!;
    const [, heads, , headDim] = first.dims as [number, number, number, number];
    const target = emptyLike(first, [sources.length, heads, pastLength, headDim]);
    const into = target.data as KvData;
    sources.forEach((source, row) => {
      const tensor = source.tensors.get(name)!;
      const from = tensor.data as KvData;
      const sourceLength = tensor.dims[2]!;
      if (source.length > sourceLength || source.length > pastLength) throw new Error(`A row of ${source.length} positions does not fit ${sourceLength} → ${pastLength}`);
      const span = source.length * headDim;
      for (let head = 0; head < heads; head++) {
        const readEnd = ((source.row * heads + head) * sourceLength + sourceLength) * headDim;
        const writeEnd = ((row * heads + head) * pastLength + pastLength) * headDim;
        into.set(from.subarray(readEnd - span, readEnd), writeEnd - span);
      }
    });
    out.set(name, target);
  }
  return out;
}

/** [rows × heads × 0 × headDim] tensors of `like`'s type: a self-attention past with no positions yet. */
export function emptyPastLike(like: ort.Tensor, rows: number): ort.Tensor {
  return emptyLike(like, [rows, like.dims[1]!, 0, like.dims[3]!]);
}

/** Whole rows of same-shaped tensors (the cross-attention K/V), in `sources` order. */
export function gatherRows(names: readonly string[], sources: readonly Omit<RowSource, "length">[]): Map<string, ort.Tensor> {
  const out = new Map<string, ort.Tensor>();
  for (const name of names) {
    const first = sources[0]!.tensors.get(name)!;
    const rowSize = first.dims.slice(1).reduce((a, b) => a * b, 1);
    const target = emptyLike(first, [sources.length, ...first.dims.slice(1)]);
    const into = target.data as KvData;
    sources.forEach((source, row) => {
      const from = source.tensors.get(name)!.data as KvData;
      into.set(from.subarray(source.row * rowSize, (source.row + 1) * rowSize), row * rowSize);
    });
    out.set(name, target);
  }
  return out;
}

/**
 * The cross-attention K/V of a continuous batch, kept in place: a buffer per tensor (all in
 * one allocation), sized for the largest batch, whose first `rows` rows the decoder reads
 * through views. When rows
 * leave or join, only the rows that change place are copied, in an order that never
 * overwrites a row still to be read; gathering into fresh tensors instead copied every row
 * (37 MB each for whisper-base in fp32) at every join and held the old and new batch at once.
 * The buffers stay while the batch empties and refills; `release` drops them.
 */
export class KvRowSlab {
  private buffers = new Map<string, KvData>();
  private rowShape: number[] = [];
  private rowSize = 0;
  private current: ReadonlyMap<string, ort.Tensor> = new Map();

  constructor(
    private readonly names: readonly string[],
    /** Rows of the largest batch. */
    private readonly capacity: number,
  ) {}

  /** The tensors of the last arrangement: a source that names these reads a row of the slab. */
  get tensors(): ReadonlyMap<string, ort.Tensor> {
    return this.current;
  }

  /** Makes row i hold `sources[i]` (a row of this slab or of other tensors); returns [sources × …] views. */
  arrange(sources: readonly Omit<RowSource, "length">[]): ReadonlyMap<string, ort.Tensor> {
    if (sources.length === 0) throw new Error("A batch needs a row");
    if (sources.length > this.capacity) throw new Error(`${sources.length} rows do not fit a batch of ${this.capacity}`);
    this.allocate(sources[0]!.tensors.get(this.names[0]!)!);
    for (const source of sources) {
      const dims = source.tensors.get(this.names[0]!)!.dims;
      if (dims.slice(1).some((dim, i) => dim !== this.rowShape[i])) throw new Error(`A row of shape [${dims.slice(1).join(", ")}] does not fit rows of [${this.rowShape.join(", ")}]`);
    }
    type Move = { target: number; source: Omit<RowSource, "length">; slabRow: number | null };
    const pending: Move[] = [];
    /** How many pending moves still read each slab row. */
    const readers = new Map<number, number>();
    sources.forEach((source, target) => {
      const slabRow = source.tensors === this.current ? source.row : null;
      if (slabRow === target) return;
      pending.push({ target, source, slabRow });
      if (slabRow !== null) readers.set(slabRow, (readers.get(slabRow) ?? 0) + 1);
    });
    while (pending.length) {
      // A target row nobody still reads may be overwritten.
      const ready = pending.findIndex((move) => !readers.get(move.target));
      if (ready >= 0) {
        const [move] = pending.splice(ready, 1);
        this.copyRow(move!.source, move!.target);
        if (move!.slabRow !== null) readers.set(move!.slabRow, readers.get(move!.slabRow)! - 1);
        continue;
      }
      // Every pending target is still read: a cycle. Park one read row outside the slab.
      const parked = pending.find((move) => move.slabRow !== null)!;
      const row = parked.slabRow!;
      const copy = this.detachRow(row);
      for (const move of pending) {
        if (move.slabRow !== row) continue;
        move.source = { tensors: copy, row: 0 };
        move.slabRow = null;
      }
      readers.set(row, 0);
    }
    const rows = sources.length;
    const views = new Map<string, ort.Tensor>();
    for (const name of this.names) {
      views.set(name, tensorOf(this.buffers.get(name)!.subarray(0, rows * this.rowSize), [rows, ...this.rowShape]));
    }
    this.current = views;
    return views;
  }

  /** No rows; the buffers stay for the next rows. */
  clear(): void {
    this.current = new Map();
  }

  /** Drops the buffers. */
  release(): void {
    this.buffers = new Map();
    this.current = new Map();
  }

  get allocated(): boolean {
    return this.buffers.size > 0;
  }

  /**
   * One allocation for every tensor's buffer: at hundreds of MB it is mapped fresh from the
   * system, so rows the batch never fills are never resident (a buffer per tensor would come
   * from the heap and be zeroed, all of it, at once).
   */
  private allocate(like: ort.Tensor): void {
    if (this.buffers.size) return;
    this.rowShape = like.dims.slice(1);
    this.rowSize = this.rowShape.reduce((a, b) => a * b, 1);
    const span = this.capacity * this.rowSize;
    const all = like.type === "float16" ? new Uint16Array(span * this.names.length) : new Float32Array(span * this.names.length);
    this.names.forEach((name, i) => this.buffers.set(name, all.subarray(i * span, (i + 1) * span)));
  }

  private copyRow(source: Omit<RowSource, "length">, target: number): void {
    for (const name of this.names) {
      const from = source.tensors.get(name)!.data as KvData;
      this.buffers.get(name)!.set(from.subarray(source.row * this.rowSize, (source.row + 1) * this.rowSize), target * this.rowSize);
    }
  }

  /** A copy of one slab row as [1 × …] tensors. */
  private detachRow(row: number): Map<string, ort.Tensor> {
    const copy = new Map<string, ort.Tensor>();
    for (const name of this.names) {
      copy.set(name, tensorOf(this.buffers.get(name)!.slice(row * this.rowSize, (row + 1) * this.rowSize), [1, ...this.rowShape]));
    }
    return copy;
  }
}

/**
 * The attention mask for one cached step: [rows × (pastLength + 1)], a row's last
 * `length` past positions and the new token visible, its padding not.
 */
export function stepAttentionMask(lengths: readonly number[], pastLength: number): BigInt64Array {
  const width = pastLength + 1;
  const mask = new BigInt64Array(lengths.length * width);
  lengths.forEach((length, row) => mask.fill(1n, row * width + pastLength - length, (row + 1) * width));
  return mask;
}
