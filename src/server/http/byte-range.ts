/**
 * What a `Range` request header asks of a resource of a known size (RFC 9110 §14):
 * - `whole`: no usable range (none, malformed, another unit, or several ranges), send it all;
 * - `partial`: one satisfiable range, `start`..`end` inclusive, in bytes;
 * - `unsatisfiable`: a well-formed range that lies beyond the end (416).
 */
export type ByteRange = { kind: "whole" } | { kind: "partial"; start: number; end: number } | { kind: "unsatisfiable" };

const SINGLE_RANGE = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i;

/**
 * Interprets a Range header for a resource of `size` bytes. Several ranges are answered
 * with the whole resource, which RFC 9110 allows and media players never need otherwise;
 * a malformed header is ignored, as the RFC requires.
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return { kind: "whole" };
  const match = SINGLE_RANGE.exec(header.trim());
  if (!match) return { kind: "whole" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "whole" };
  if (first === "") {
    // bytes=-n: the last n bytes.
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  // A last position before the first makes the header invalid (ignored), not unsatisfiable.
  if (last !== "" && Number(last) < start) return { kind: "whole" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: last === "" ? size - 1 : Math.min(Number(last), size - 1) };
}
