import { AppError } from "../errors";

/** Objects and arrays nested deeper than this are refused: nobody's configuration needs it. */
export const MAX_JSON_DEPTH = 64;

/**
 * Parses a JSON text a client sent in a form field, refusing (400, naming the field) text
 * that is not JSON, longer than `maxBytes`, or nested deeper than MAX_JSON_DEPTH: the value
 * is stored and serialised again later, and JSON.stringify recurses (a 200,000-deep object
 * overflows the stack there, far from the request that sent it).
 */
export function parseBoundedJson(name: string, text: string, opts: { maxBytes: number; limitName: string }): unknown {
  const bytes = Buffer.byteLength(text);
  if (bytes > opts.maxBytes) throw new AppError("BAD_REQUEST", `Form field "${name}" is ${bytes} bytes, more than the limit of ${opts.maxBytes} (${opts.limitName})`);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError("BAD_REQUEST", `Form field "${name}" is not valid JSON: ${(error as Error).message}`);
  }
  if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new AppError("BAD_REQUEST", `Form field "${name}" is nested more than ${MAX_JSON_DEPTH} levels deep`);
  return value;
}

/** The nesting depth of a parsed JSON value (a scalar is 0), counted without recursion; stops once past `stopAbove`. */
export function jsonDepth(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== "object") continue;
    const inner = depth + 1;
    deepest = Math.max(deepest, inner);
    if (deepest > stopAbove) return deepest;
    for (const child of Array.isArray(current) ? current : Object.values(current)) stack.push({ value: child, depth: inner });
  }
  return deepest;
}
