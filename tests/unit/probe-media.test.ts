import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { resetFfmpegBinariesCache, resolveFfmpegBinaries } from "../../src/server/media/ffmpeg-binaries";
import {
  parseFfmpegInputSummary,
  probeMedia,
  probeWithFfmpeg,
  probeWithFfprobe,
  type MediaInfo,
} from "../../src/server/media/probe-media";
import { makeAudio, makeTempDir, makeVideo, writeFixture, type TempDir } from "../helpers/fixtures";
import { assertPermanent } from "../helpers/assertions";

type WavSpec = {
  formatTag: number;
  channels: number;
  sampleRateHz: number;
  bitsPerSample: number;
  frames: number;
  /** Use WAVE_FORMAT_EXTENSIBLE with this sub-format tag. */
  extensibleSubFormat?: number;
  /** Chunks placed before "fmt " (odd sizes exercise the pad byte). */
  leadingChunks?: { id: string; size: number }[];
  /** Value written in the data chunk's size field (default: the real size). */
  dataSizeField?: number;
};

/** Builds a WAV file in memory, byte by byte, so the header layout is exactly what a test says. */
function buildWav(spec: WavSpec): Buffer {
  const blockAlign = (spec.channels * spec.bitsPerSample) / 8;
  const dataBytes = spec.frames * blockAlign;
  const parts: Buffer[] = [];
  for (const chunk of spec.leadingChunks ?? []) {
    const header = Buffer.alloc(8);
    header.write(chunk.id, 0, "latin1");
    header.writeUInt32LE(chunk.size, 4);
    parts.push(header, Buffer.alloc(chunk.size + (chunk.size % 2), 0x41));
  }
  const extensible = spec.extensibleSubFormat !== undefined;
  const fmt = Buffer.alloc(extensible ? 40 : 16);
  fmt.writeUInt16LE(extensible ? 0xfffe : spec.formatTag, 0);
  fmt.writeUInt16LE(spec.channels, 2);
  fmt.writeUInt32LE(spec.sampleRateHz, 4);
  fmt.writeUInt32LE(spec.sampleRateHz * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(spec.bitsPerSample, 14);
  if (extensible) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(spec.bitsPerSample, 18); // valid bits
    fmt.writeUInt32LE(0x3f, 20); // channel mask (5.1)
    fmt.writeUInt16LE(spec.extensibleSubFormat ?? 1, 24);
    Buffer.from("000000001000800000aa00389b71", "hex").copy(fmt, 26); // rest of the KSDATAFORMAT GUID
  }
  const fmtHeader = Buffer.alloc(8);
  fmtHeader.write("fmt ", 0, "latin1");
  fmtHeader.writeUInt32LE(fmt.length, 4);
  const dataHeader = Buffer.alloc(8);
  dataHeader.write("data", 0, "latin1");
  dataHeader.writeUInt32LE(spec.dataSizeField ?? dataBytes, 4);
  const body = Buffer.concat([Buffer.from("WAVE", "latin1"), ...parts, fmtHeader, fmt, dataHeader, Buffer.alloc(dataBytes)]);
  const riff = Buffer.alloc(8);
  riff.write("RIFF", 0, "latin1");
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}


let tmp: TempDir;
before(async () => {
  tmp = await makeTempDir("probe-media-test-");
});
after(async () => {
  await tmp.cleanup();
});

describe("probeMedia: WAV headers parsed in JS", () => {
  // Point both binaries at nothing: a spawn would now fail, so success proves no subprocess ran.
  const saved = { ffmpeg: process.env.FFMPEG_PATH, ffprobe: process.env.FFPROBE_PATH };
  before(() => {
    process.env.FFMPEG_PATH = "/nonexistent/ffmpeg";
    process.env.FFPROBE_PATH = "/nonexistent/ffprobe";
    resetFfmpegBinariesCache();
  });
  after(() => {
    for (const [key, value] of [["FFMPEG_PATH", saved.ffmpeg], ["FFPROBE_PATH", saved.ffprobe]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    resetFfmpegBinariesCache();
  });

  it("reads a plain 16-bit PCM WAV", async () => {
    const file = await writeFixture(tmp.dir, "pcm16.wav", buildWav({ formatTag: 1, channels: 1, sampleRateHz: 16000, bitsPerSample: 16, frames: 24000 }));
    assert.deepEqual(await probeMedia(file), {
      format: "wav", durationS: 1.5, sampleRateHz: 16000, channels: 1, audioCodec: "pcm_s16le", hasAudio: true,
    } satisfies MediaInfo);
  });

  it("reads WAVE_FORMAT_EXTENSIBLE and skips unknown (odd-sized) chunks", async () => {
    const file = await writeFixture(
      tmp.dir,
      "extensible.wav",
      buildWav({
        formatTag: 1, channels: 6, sampleRateHz: 48000, bitsPerSample: 24, frames: 96000, extensibleSubFormat: 1,
        leadingChunks: [{ id: "JUNK", size: 27 }, { id: "bext", size: 602 }],
      }),
    );
    assert.deepEqual(await probeMedia(file), {
      format: "wav", durationS: 2, sampleRateHz: 48000, channels: 6, audioCodec: "pcm_s24le", hasAudio: true,
    });
  });

  it("reads an extensible float WAV whose chunks lie beyond the first 4 KiB", async () => {
    const file = await writeFixture(
      tmp.dir,
      "float-late.wav",
      buildWav({ formatTag: 3, channels: 2, sampleRateHz: 44100, bitsPerSample: 32, frames: 44100, extensibleSubFormat: 3, leadingChunks: [{ id: "LIST", size: 10_000 }] }),
    );
    const info = await probeMedia(file);
    assert.equal(info.audioCodec, "pcm_f32le");
    assert.equal(info.durationS, 1);
  });

  it("uses the bytes present when the data size is a streaming placeholder or too large", async () => {
    const streamed = await writeFixture(tmp.dir, "streamed.wav", buildWav({ formatTag: 1, channels: 1, sampleRateHz: 8000, bitsPerSample: 16, frames: 4000, dataSizeField: 0xffffffff }));
    assert.equal((await probeMedia(streamed)).durationS, 0.5);
    const truncated = await writeFixture(tmp.dir, "truncated.wav", buildWav({ formatTag: 1, channels: 1, sampleRateHz: 8000, bitsPerSample: 16, frames: 2000, dataSizeField: 80000 }));
    assert.equal((await probeMedia(truncated)).durationS, 0.25);
  });

  it("reads a WAV written by ffmpeg (with a LIST chunk)", async () => {
    // makeAudio runs the system ffmpeg directly, not through FFMPEG_PATH.
    const file = await makeAudio([{ kind: "sine", durationS: 2.5 }], { dir: tmp.dir, name: "ffmpeg.wav", sampleRateHz: 22050, channels: 2 });
    assert.deepEqual(await probeMedia(file), {
      format: "wav", durationS: 2.5, sampleRateHz: 22050, channels: 2, audioCodec: "pcm_s16le", hasAudio: true,
    });
  });

  it("rejects an empty file without spawning anything", async () => {
    const file = await writeFixture(tmp.dir, "empty.wav", "");
    await assert.rejects(probeMedia(file), assertPermanent("The media file is empty (0 bytes)"));
  });

  it("rejects a missing file", async () => {
    await assert.rejects(probeMedia(`${tmp.dir}/nope.wav`), assertPermanent("The media file does not exist"));
  });

  it("probes hundreds of WAV files a second", async (t) => {
    const file = await writeFixture(tmp.dir, "speed.wav", buildWav({ formatTag: 1, channels: 1, sampleRateHz: 16000, bitsPerSample: 16, frames: 16000 }));
    const started = performance.now();
    const count = 500;
    await Promise.all(Array.from({ length: count }, () => probeMedia(file)));
    const perSecond = count / ((performance.now() - started) / 1000);
    assert.ok(perSecond > 500, `only ${Math.round(perSecond)} probes/s`);
    t.diagnostic(`WAV fast path: ${Math.round(perSecond)} probes/s`);
  });
});

describe("probeMedia: other formats through ffprobe", () => {
  it("probes m4a (AAC) and mp3", async () => {
    const m4a = await makeAudio([{ kind: "sine", durationS: 3 }], { dir: tmp.dir, name: "tone.m4a", sampleRateHz: 44100, outputArgs: ["-c:a", "aac"] });
    const info = await probeMedia(m4a);
    assert.equal(info.audioCodec, "aac");
    assert.equal(info.sampleRateHz, 44100);
    assert.equal(info.channels, 1);
    assert.match(info.format, /mp4|m4a/);
    assert.ok(Math.abs(info.durationS - 3) < 0.1, String(info.durationS));

    const mp3 = await makeAudio([{ kind: "sine", durationS: 2 }], { dir: tmp.dir, name: "tone.mp3", channels: 2, sampleRateHz: 44100 });
    const mp3Info = await probeMedia(mp3);
    assert.equal(mp3Info.audioCodec, "mp3");
    assert.equal(mp3Info.channels, 2);
    assert.ok(Math.abs(mp3Info.durationS - 2) < 0.1);
  });

  it("sends a WAV with a compressed codec (ADPCM) to ffprobe", async () => {
    const file = await makeAudio([{ kind: "sine", durationS: 1 }], { dir: tmp.dir, name: "adpcm.wav", outputArgs: ["-c:a", "adpcm_ms"] });
    const info = await probeMedia(file);
    assert.equal(info.audioCodec, "adpcm_ms");
    assert.ok(Math.abs(info.durationS - 1) < 0.1);
  });

  it("rejects a text file", async () => {
    const file = await writeFixture(tmp.dir, "notes.txt", "This is not audio.\nJust some text.\n");
    await assert.rejects(probeMedia(file), assertPermanent("The file is not a recognised audio or video format"));
    const bin = await writeFixture(tmp.dir, "upload.bin", "This is not audio either.\n");
    await assert.rejects(probeMedia(bin), assertPermanent("The file is not a recognised audio or video format"));
  });

  it("rejects a truncated (corrupt) m4a", async () => {
    const { readFile } = await import("node:fs/promises");
    const m4a = await makeAudio([{ kind: "sine", durationS: 5 }], { dir: tmp.dir, name: "whole.m4a", outputArgs: ["-c:a", "aac"] });
    const bytes = await readFile(m4a);
    const broken = await writeFixture(tmp.dir, "broken.m4a", bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(probeMedia(broken), assertPermanent(/^The media file is corrupt or truncated and cannot be read \(.*moov atom not found\)$/));
  });

  it("rejects a video without an audio track", async () => {
    const video = await makeVideo({ dir: tmp.dir, name: "silent-video.mp4", durationS: 1, withAudio: false });
    await assert.rejects(probeMedia(video), assertPermanent("The media has no audio stream"));
  });

  it("probes the audio of a video", async () => {
    const video = await makeVideo({ dir: tmp.dir, name: "video.mp4", durationS: 2, withAudio: true });
    const info = await probeMedia(video);
    assert.equal(info.hasAudio, true);
    assert.equal(info.audioCodec, "aac");
  });

  it("honours an abort signal", async () => {
    const m4a = await makeAudio([{ kind: "sine", durationS: 1 }], { dir: tmp.dir, name: "abort.m4a", outputArgs: ["-c:a", "aac"] });
    await assert.rejects(probeMedia(m4a, AbortSignal.abort()), { name: "AbortError" });
  });
});

describe("probe fallback without ffprobe (ffmpeg -i)", () => {
  it("agrees with ffprobe on sample rate, channels, codec and duration", async () => {
    const { ffprobe } = await resolveFfmpegBinaries();
    assert.ok(ffprobe, "ffprobe is needed to compare");
    const files = [
      await makeAudio([{ kind: "sine", durationS: 3 }], { dir: tmp.dir, name: "cmp.m4a", sampleRateHz: 44100, channels: 2, outputArgs: ["-c:a", "aac"] }),
      await makeAudio([{ kind: "sine", durationS: 2 }], { dir: tmp.dir, name: "cmp.ogg", sampleRateHz: 48000 }),
      await makeVideo({ dir: tmp.dir, name: "cmp.mp4", durationS: 2, withAudio: true }),
    ];
    for (const file of files) {
      const viaProbe = await probeWithFfprobe(ffprobe, file, undefined);
      const viaFfmpeg = await probeWithFfmpeg(file, undefined);
      assert.equal(viaFfmpeg.format, viaProbe.format, file);
      assert.equal(viaFfmpeg.sampleRateHz, viaProbe.sampleRateHz, file);
      assert.equal(viaFfmpeg.channels, viaProbe.channels, file);
      assert.equal(viaFfmpeg.audioCodec, viaProbe.audioCodec, file);
      // `ffmpeg -i` prints the duration to 10 ms.
      assert.ok(Math.abs(viaFfmpeg.durationS - viaProbe.durationS) <= 0.01, `${file}: ${viaFfmpeg.durationS} vs ${viaProbe.durationS}`);
    }
  });

  it("classifies failures like ffprobe does", async () => {
    const text = await writeFixture(tmp.dir, "fallback.txt", "plain text\n");
    await assert.rejects(probeWithFfmpeg(text, undefined), assertPermanent("The file is not a recognised audio or video format"));
    const video = await makeVideo({ dir: tmp.dir, name: "fallback-video.mp4", durationS: 1, withAudio: false });
    assert.equal((await probeWithFfmpeg(video, undefined)).hasAudio, false);
  });

  it("parses stream summaries", () => {
    const info = parseFfmpegInputSummary(
      [
        "Input #0, matroska,webm, from 'file:/x.mkv':",
        "  Duration: 01:02:03.45, start: 0.000000, bitrate: 128 kb/s",
        "  Stream #0:0(eng): Video: h264 (High), yuv420p, 1920x1080",
        "  Stream #0:1(eng): Audio: opus, 48000 Hz, 5.1(side), fltp (default)",
      ].join("\n"),
      "",
    );
    assert.deepEqual(info, { format: "matroska,webm", durationS: 3723.45, sampleRateHz: 48000, channels: 6, audioCodec: "opus", hasAudio: true });
  });
});
