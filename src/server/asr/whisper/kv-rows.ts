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

function emptyLike(tensor: ort.Tensor, dims: number[]): ort.Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  return tensor.type === "float16" ? new ort.Tensor("float16", new Uint16Array(size), dims) : new ort.Tensor("float32", new Float32Array(size), dims);
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
 * The attention mask for one cached step: [rows × (pastLength + 1)], a row's last
 * `length` past positions and the new token visible, its padding not.
 */
export function stepAttentionMask(lengths: readonly number[], pastLength: number): BigInt64Array {
  const width = pastLength + 1;
  const mask = new BigInt64Array(lengths.length * width);
  lengths.forEach((length, row) => mask.fill(1n, row * width + pastLength - length, (row + 1) * width));
  return mask;
}
