import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { resetFfmpegBinariesCache, resolveFfmpegBinaries } from "../../src/server/media/ffmpeg-binaries";
import { probeMedia } from "../../src/server/media/probe-media";
import { makeAudio, makeTempDir } from "../helpers/fixtures";

const NPM_FFMPEG = path.resolve("node_modules/@ffmpeg-installer/linux-x64/ffmpeg");

describe("resolveFfmpegBinaries", () => {
  const saved = { PATH: process.env.PATH, FFMPEG_PATH: process.env.FFMPEG_PATH, FFPROBE_PATH: process.env.FFPROBE_PATH };
  beforeEach(() => {
    delete process.env.FFMPEG_PATH;
    delete process.env.FFPROBE_PATH;
    resetFfmpegBinariesCache();
  });
  afterEach(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    resetFfmpegBinariesCache();
  });

  it("prefers the system binaries and caches the answer", async () => {
    const first = resolveFfmpegBinaries();
    assert.equal(resolveFfmpegBinaries(), first);
    const binaries = await first;
    assert.equal(binaries.source, "system");
    assert.equal(path.basename(binaries.ffmpeg), "ffmpeg");
    assert.equal(path.basename(binaries.ffprobe ?? ""), "ffprobe");
  });

  it("honours FFMPEG_PATH and FFPROBE_PATH", async () => {
    process.env.FFMPEG_PATH = "/usr/bin/ffmpeg";
    process.env.FFPROBE_PATH = "/usr/bin/ffprobe";
    assert.deepEqual(await resolveFfmpegBinaries(), { ffmpeg: "/usr/bin/ffmpeg", ffprobe: "/usr/bin/ffprobe", source: "env" });
  });

  it("fails clearly when FFMPEG_PATH points nowhere", async () => {
    process.env.FFMPEG_PATH = "/nonexistent/ffmpeg";
    await assert.rejects(resolveFfmpegBinaries(), /FFMPEG_PATH is set to "\/nonexistent\/ffmpeg" but no executable file is there/);
  });

  it("falls back to @ffmpeg-installer/ffmpeg (no ffprobe) and probes through `ffmpeg -i`", { skip: existsSync(NPM_FFMPEG) ? false : "no npm ffmpeg binary for this platform" }, async () => {
    const tmp = await makeTempDir("ffmpeg-binaries-test-");
    try {
      // makeAudio needs the system ffmpeg: build the fixture before hiding PATH.
      const m4a = await makeAudio([{ kind: "sine", durationS: 2 }], { dir: tmp.dir, name: "tone.m4a", sampleRateHz: 44100, outputArgs: ["-c:a", "aac"] });
      process.env.PATH = "/nonexistent";
      resetFfmpegBinariesCache();
      assert.deepEqual(await resolveFfmpegBinaries(), { ffmpeg: NPM_FFMPEG, ffprobe: null, source: "npm" });
      const info = await probeMedia(m4a);
      assert.equal(info.audioCodec, "aac");
      assert.equal(info.sampleRateHz, 44100);
      assert.equal(info.channels, 1);
      assert.ok(Math.abs(info.durationS - 2) < 0.05);
    } finally {
      await tmp.cleanup();
    }
  });
});
