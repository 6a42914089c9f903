import { open } from "node:fs/promises";

/** An `opset_import` entry of an ONNX model: the operator domain ("" is the standard one) and its version. */
export type OpsetImport = { domain: string; version: number };

/**
 * The default-domain opsets the bundled onnxruntime-node (1.30) loads. The upper bound is
 * checked against the runtime by tests/unit/onnx-opsets.test.ts, so an upgrade that moves it
 * fails there rather than in production.
 */
export const SUPPORTED_OPSETS = { min: 7, max: 26 } as const;

/** ModelProto field numbers (onnx.proto). */
const OPSET_IMPORT_FIELD = 8;
const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/**
 * Reads an ONNX file's `opset_import` without loading the model: it walks the top-level
 * protobuf fields, seeking past the (hundreds of MB) graph rather than reading it.
 * Throws when the file is not a well-formed protobuf message.
 */
export async function readOpsetImports(file: string): Promise<OpsetImport[]> {
  const handle = await open(file, "r");
  try {
    const size = (await handle.stat()).size;
    const reader = new PositionalReader(async (position, length) => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    });
    const opsets: OpsetImport[] = [];
    let position = 0;
    while (position < size) {
      const key = await reader.varint(position);
      position = key.next;
      const field = Number(key.value >> 3n);
      const wire = Number(key.value & 7n);
      if (wire === WIRE_VARINT) {
        position = (await reader.varint(position)).next;
      } else if (wire === WIRE_I64) {
        position += 8;
      } else if (wire === WIRE_I32) {
        position += 4;
      } else if (wire === WIRE_LEN) {
        const length = await reader.varint(position);
        const start = length.next;
        const end = start + Number(length.value);
        if (end > size) throw new Error("it is truncated (a field runs past the end of the file)");
        if (field === OPSET_IMPORT_FIELD) opsets.push(parseOpsetImport(await reader.bytes(start, end - start)));
        position = end;
      } else {
        throw new Error(`it is not an ONNX protobuf (wire type ${wire} at byte ${position})`);
      }
    }
    if (position !== size) throw new Error("it is truncated (its last field is incomplete)");
    return opsets;
  } finally {
    await handle.close();
  }
}

/** Why a model's opsets cannot run here, or null when they can. */
export function unsupportedOpset(opsets: readonly OpsetImport[]): string | null {
  const standard = opsets.find((opset) => opset.domain === "" || opset.domain === "ai.onnx");
  if (!standard) return "it declares no standard ONNX opset";
  if (standard.version < SUPPORTED_OPSETS.min || standard.version > SUPPORTED_OPSETS.max) {
    return `it uses ONNX opset ${standard.version}, and onnxruntime-node here runs opsets ${SUPPORTED_OPSETS.min} to ${SUPPORTED_OPSETS.max}`;
  }
  return null;
}

/** OperatorSetIdProto: domain = 1 (string), version = 2 (int64). */
function parseOpsetImport(bytes: Buffer): OpsetImport {
  let domain = "";
  let version = 0;
  let position = 0;
  while (position < bytes.length) {
    const key = readVarint(bytes, position);
    position = key.next;
    const field = Number(key.value >> 3n);
    const wire = Number(key.value & 7n);
    if (wire === WIRE_VARINT) {
      const value = readVarint(bytes, position);
      if (field === 2) version = Number(value.value);
      position = value.next;
    } else if (wire === WIRE_LEN) {
      const length = readVarint(bytes, position);
      const end = length.next + Number(length.value);
      if (field === 1) domain = bytes.subarray(length.next, end).toString("utf8");
      position = end;
    } else {
      position += wire === WIRE_I64 ? 8 : 4;
    }
  }
  return { domain, version };
}

function readVarint(bytes: Uint8Array, start: number): { value: bigint; next: number } {
  let value = 0n;
  let shift = 0n;
  for (let position = start; position < bytes.length && shift < 70n; position++) {
    const byte = bytes[position]!;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value, next: position + 1 };
    shift += 7n;
  }
  throw new Error("it is not an ONNX protobuf (a malformed or truncated varint)");
}

/** Reads varints and byte ranges at absolute file positions, through a small window. */
class PositionalReader {
  constructor(private readonly read: (position: number, length: number) => Promise<Buffer>) {}

  async varint(position: number): Promise<{ value: bigint; next: number }> {
    const window = await this.read(position, 10);
    const { value, next } = readVarint(window, 0);
    return { value, next: position + next };
  }

  bytes(position: number, length: number): Promise<Buffer> {
    return this.read(position, length);
  }
}
