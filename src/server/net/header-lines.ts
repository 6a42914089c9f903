/**
 * Headers as callers give them for the server to send on their behalf: "Name: value" lines
 * (the vendor's `auth_headers`, for media fetches and webhooks alike).
 */

/** An HTTP header name (RFC 9110's token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A line split at its first colon, both sides trimmed; null when no name comes before one. */
export function splitHeaderLine(line: string): { name: string; value: string } | null {
  const colon = line.indexOf(":");
  if (colon <= 0) return null;
  return { name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() };
}

/** The lines as a header object; lines with no name are skipped (callers validate first). */
export function headerLinesToObject(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const parts = splitHeaderLine(line);
    if (parts) headers[parts.name] = parts.value;
  }
  return headers;
}

/** The lines as they are stored and shown back: the names kept, the values (credentials) masked. */
export function redactHeaderLines(lines: readonly unknown[]): string[] {
  return lines.map((line) => `${String(line).split(":")[0]}: [redacted]`);
}
