/**
 * Hand-encoded ONNX models for tests that need a valid graph at a chosen opset (no protobuf
 * library, no Python): ModelProto { ir_version, opset_import, graph { Identity x → y } }.
 */
function varint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

const key = (field: number, wire: number) => varint((field << 3) | wire);
const bytesField = (field: number, payload: number[]) => [...key(field, 2), ...varint(payload.length), ...payload];
const stringField = (field: number, text: string) => bytesField(field, [...Buffer.from(text, "utf8")]);
const varintField = (field: number, value: number) => [...key(field, 0), ...varint(value)];

/** ValueInfoProto of a float tensor with one dimension of size 1. */
function floatInfo(name: string): number[] {
  const dim = bytesField(1, varintField(1, 1)); // Dimension { dim_value: 1 }
  const shape = bytesField(2, dim); // Tensor.shape: TensorShapeProto { dim }
  const tensor = [...varintField(1, 1), ...shape]; // Tensor { elem_type: FLOAT, shape }
  const type = bytesField(1, tensor); // TypeProto { tensor_type }
  return [...stringField(1, name), ...bytesField(2, type)];
}

/** An Identity model whose standard-domain opset is `opset`. */
export function identityModel(opset: number, irVersion = 8): Buffer {
  const node = [...stringField(1, "x"), ...stringField(2, "y"), ...stringField(4, "Identity")];
  const graph = [...bytesField(1, node), ...stringField(2, "g"), ...bytesField(11, floatInfo("x")), ...bytesField(12, floatInfo("y"))];
  const opsetImport = [...stringField(1, ""), ...varintField(2, opset)];
  return Buffer.from([...varintField(1, irVersion), ...bytesField(7, graph), ...bytesField(8, opsetImport)]);
}
