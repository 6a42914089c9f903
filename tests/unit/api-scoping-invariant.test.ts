import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const API_DIR = path.join(ROOT, "src/server/api");

/** JobService methods that return or change one caller's jobs or files: the API must reach them through `jobsFor(principal)`. */
const SCOPED_METHODS = ["createTranscription", "createBatch", "createFixSrt", "createConvert", "get", "list", "cancel", "retry", "delete", "saveSubtitles", "discardSubtitleEdits", "transcript", "log", "batchSummary", "waitForSettled"];

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((entry) => (entry.isDirectory() ? sourceFiles(path.join(dir, entry.name)) : [path.join(dir, entry.name)])));
  return nested.flat().filter((file) => file.endsWith(".ts"));
}

describe("per-user isolation has no way around it in the API layer", () => {
  it("no REST route or tRPC procedure calls the unscoped job service or media lookup", async () => {
    const files = await sourceFiles(API_DIR);
    assert.ok(files.length >= 8, `found the API sources (${files.length})`);
    const unscoped = new RegExp(`\\bapp\\.jobs\\.(${SCOPED_METHODS.join("|")})\\(|\\bapp\\.media\\.(get|find)\\(`);
    const offenders: string[] = [];
    let scopedUses = 0;
    for (const file of files) {
      const text = await fs.readFile(file, "utf8");
      text.split("\n").forEach((line, index) => {
        if (unscoped.test(line)) offenders.push(`${path.relative(ROOT, file)}:${index + 1}: ${line.trim()}`);
      });
      scopedUses += (text.match(/\bjobsFor\(|\bctx\.jobs\./g) ?? []).length;
    }
    assert.deepEqual(offenders, [], "API code must use app.jobsFor(principal) / ctx.jobs");
    // The scoped entry points exist and are what the API uses (renaming them fails this test).
    assert.ok(scopedUses >= 20, `scoped job calls in the API: ${scopedUses}`);
    const app = await fs.readFile(path.join(ROOT, "src/server/app.ts"), "utf8");
    assert.match(app, /jobsFor: \(principal\) => scopeJobs\(/);
  });
});
