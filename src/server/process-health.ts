import fs from "node:fs/promises";

/** /live turns unhealthy when this share of the descriptor limit is in use. */
export const DESCRIPTOR_ALARM_SHARE = 0.9;

/**
 * This process's open file descriptors and its soft limit (Linux, from /proc; null
 * elsewhere). At the limit every upload, database connection and socket fails with EMFILE
 * while the process still answers simple requests, so /live must say so.
 */
export async function descriptorUsage(): Promise<{ open: number; limit: number } | null> {
  try {
    const [entries, limits] = await Promise.all([fs.readdir("/proc/self/fd"), fs.readFile("/proc/self/limits", "utf8")]);
    const limit = parseOpenFilesLimit(limits);
    return limit === null ? null : { open: entries.length, limit };
  } catch {
    return null;
  }
}

/** The soft "Max open files" of a /proc/<pid>/limits text; null when unlimited or absent. */
export function parseOpenFilesLimit(limits: string): number | null {
  const match = /^Max open files\s+(\S+)/m.exec(limits);
  if (!match?.[1] || match[1] === "unlimited") return null;
  const value = Number(match[1]);
  return Number.isFinite(value) && value > 0 ? value : null;
}
