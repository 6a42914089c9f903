import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { isPermanent } from "../../src/server/errors";
import { convertMedia, convertOptionsSchema } from "../../src/server/media/convert-media";
import { makeTempDir, writeFixture, type TempDir } from "../helpers/fixtures";
import { toneWav } from "../helpers/wav";

const isRoot = process.getuid?.() === 0;

describe("a conversion onto a full disk", { skip: !isRoot && "mounting a small tmpfs needs root" }, () => {
  let temp: TempDir;
  let full: string;
  before(async () => {
    temp = await makeTempDir("convert-full-");
    full = path.join(temp.dir, "full");
    execFileSync("mkdir", ["-p", full]);
    // 64 KiB: far less than the 7 s of 16 kHz PCM the conversion writes (~220 KB).
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", full]);
  });
  after(async () => {
    if (full) execFileSync("umount", [full]);
    await temp?.cleanup();
  });

  it("fails with a retryable error naming the full disk, not a DONE with a truncated file", async () => {
    const input = await writeFixture(temp.dir, "tone.wav", toneWav({ durationS: 7 }));
    const attempt = convertMedia({ input, output: path.join(full, "out.wav"), options: convertOptionsSchema.parse({ format: "wav" }), durationS: 7, signal: new AbortController().signal });
    await assert.rejects(attempt, (error: unknown) => {
      assert.ok(!isPermanent(error), "a full disk passes once space is freed: the job retries");
      assert.match((error as Error).message, /could not write|empty file/);
      return true;
    });
  });
});
