import { OPERATOR } from "../../src/server/access";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { TRPCError } from "@trpc/server";
import { createCaller } from "../../src/server/api/trpc/root";
import type { ConvertResult } from "../../src/server/jobs/job-types";
import { probeMedia } from "../../src/server/media/probe-media";
import { makeTempDir, type TempDir } from "../helpers/fixtures";
import { startTestApp, type TestApp } from "../helpers/test-app";

const ffmpeg = (args: string[]) => execFileSync("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", ...args]);
const VIDEO_IN = ["-f", "lavfi", "-i", "testsrc=size=322x180:rate=25:duration=2", "-f", "lavfi", "-i", "sine=frequency=440:duration=2"];
const AUDIO_IN = ["-f", "lavfi", "-i", "sine=frequency=660:duration=2"];

describe("convert and batch_convert jobs (real ffmpeg)", { timeout: 180_000 }, () => {
  let t: TestApp;
  let files: TempDir;
  let caller: ReturnType<typeof createCaller>;
  const inputs: Record<string, string> = {};

  const upload = async (file: string) => t.app.media.ingest(createReadStream(file), { originalName: path.basename(file), contentType: null });
  const run = async (file: string, options: Record<string, unknown>) => {
    const media = await upload(file);
    const job = await caller.jobs.createConvert({ mediaFileId: media.id, options: options as never });
    const settled = await t.app.jobs.waitForSettled(job.id, 120_000);
    return { settled, result: settled.result as ConvertResult | null };
  };

  before(async () => {
    t = await startTestApp("sqlite", { PARALLEL: "2" });
    caller = createCaller({ app: t.app, principal: OPERATOR });
    files = await makeTempDir("convert-");
    const make = (name: string, args: string[]) => {
      inputs[name] = files.file(name);
      ffmpeg([...args, inputs[name]!]);
    };
    make("h264-aac.mp4", [...VIDEO_IN, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest"]);
    make("mpeg4-mp3.mkv", [...VIDEO_IN, "-c:v", "mpeg4", "-c:a", "libmp3lame", "-shortest"]);
    make("vp8-vorbis.webm", [...VIDEO_IN, "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libvorbis", "-shortest"]);
    make("vorbis.ogg", [...AUDIO_IN, "-c:a", "libvorbis"]);
    make("audio.flac", [...AUDIO_IN, "-c:a", "flac"]);
    make("audio.wav", [...AUDIO_IN, "-ar", "16000"]);
  });
  after(async () => {
    await t.close();
    await files.cleanup();
  });

  for (const name of ["h264-aac.mp4", "mpeg4-mp3.mkv", "vp8-vorbis.webm"]) {
    it(`converts ${name} to MP4 (H.264/AAC), recording duration and codecs from the output`, async () => {
      const { settled, result } = await run(inputs[name]!, { format: "mp4", crf: 30, preset: "ultrafast" });
      assert.equal(settled.status, "DONE", settled.failureReason ?? "");
      assert.equal(result!.videoCodec, "h264");
      assert.equal(result!.audioCodec, "aac");
      assert.ok(Math.abs(result!.durationS - 2) < 0.25, `duration ${result!.durationS}`);
      const output = await t.app.media.get(result!.outputMediaFileId);
      assert.match(output.originalName, /\.mp4$/);
      const probed = await probeMedia(await t.app.media.localPath(output));
      assert.equal(probed.audioCodec, "aac");
      const log = await t.app.jobs.log(settled.id);
      assert.ok(log.some((line) => /Converted to mp4: .* video h264, audio aac/.test(line.message)));
      assert.equal(settled.progress, 1);
    });
  }

  const audioCases: [string, string, string][] = [
    ["vorbis.ogg", "m4a", "aac"],
    ["audio.flac", "mp3", "mp3"],
    ["audio.wav", "wav", "pcm_s16le"],
    ["vorbis.ogg", "mp4", "aac"],
  ];
  for (const [name, format, codec] of audioCases) {
    it(`converts ${name} to ${format} (${codec}) without a video stream`, async () => {
      const { settled, result } = await run(inputs[name]!, { format, sampleRateHz: 44100, channels: 2 });
      assert.equal(settled.status, "DONE", settled.failureReason ?? "");
      assert.equal(result!.videoCodec, null);
      assert.equal(result!.audioCodec, codec);
      const probed = await probeMedia(await t.app.media.localPath(await t.app.media.get(result!.outputMediaFileId)));
      assert.equal(probed.sampleRateHz, 44100);
      assert.equal(probed.channels, 2);
    });
  }

  it("scales video down to maxHeight, keeping even dimensions", async () => {
    const { result } = await run(inputs["h264-aac.mp4"]!, { format: "mp4", maxHeight: 144, preset: "ultrafast" });
    const dims = execFileSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", await t.app.media.localPath(await t.app.media.get(result!.outputMediaFileId))]).toString().trim();
    // 322×180 → 257.6×144, rounded to an even width.
    assert.equal(dims, "258,144");
  });

  it("refuses unsupported options with a 400 and fails a file ffmpeg cannot convert, with ffmpeg's reason", async () => {
    const media = await upload(inputs["audio.wav"]!);
    for (const options of [{ format: "avi" }, { format: "mp4", crf: 99 }, { format: "mp4", codec: "hevc" }]) {
      await assert.rejects(caller.jobs.createConvert({ mediaFileId: media.id, options: options as never }), (error: unknown) => error instanceof TRPCError && error.code === "BAD_REQUEST");
    }
    // The head of a WebM passes the upload probe; the cut-off body cannot be converted.
    const truncated = files.file("truncated.webm");
    const bytes = await fs.readFile(inputs["vp8-vorbis.webm"]!);
    await fs.writeFile(truncated, bytes.subarray(0, 600));
    let uploaded;
    try {
      uploaded = await upload(truncated);
    } catch (error) {
      assert.match((error as Error).message, /media|corrupt|audio/i, "refused at upload instead, which is also clear");
      return;
    }
    const job = await caller.jobs.createConvert({ mediaFileId: uploaded.id, options: { format: "mp4", crf: 23, preset: "ultrafast", audioBitrateKbps: 128 } });
    const settled = await t.app.jobs.waitForSettled(job.id, 60_000);
    assert.equal(settled.status, "FAILED");
    assert.match(settled.failureReason ?? "", /The conversion failed: |no audio|contains no/);
  });

  it("fans a batch_convert out to one child per file", async () => {
    const ids = [(await upload(inputs["audio.flac"]!)).id, (await upload(inputs["mpeg4-mp3.mkv"]!)).id];
    const batch = await caller.jobs.createBatch({ mediaFileIds: ids, type: "batch_convert", convert: { format: "m4a", crf: 23, preset: "veryfast", audioBitrateKbps: 96 } });
    const settled = await t.app.jobs.waitForSettled(batch.id, 120_000);
    assert.equal(settled.status, "DONE");
    const { batch: summary } = await caller.jobs.get({ id: batch.id });
    assert.equal(summary!.done, 2);
    for (const id of summary!.childIds) {
      const result = (await t.app.jobs.get(id)).result as ConvertResult;
      assert.deepEqual([result.format, result.videoCodec, result.audioCodec], ["m4a", null, "aac"], "the batch's options reached every child");
    }
    // A batch of subtitles cannot be converted: refused before any child exists.
    const srt = await t.app.media.ingest(createReadStream(await writeSrt(files)), { originalName: "cues.srt", contentType: null });
    await assert.rejects(caller.jobs.createBatch({ mediaFileIds: [srt.id], type: "batch_convert" }), /needs audio or video files/);
  });
});

async function writeSrt(files: TempDir): Promise<string> {
  const file = files.file("cues.srt");
  await fs.writeFile(file, "1\n00:00:01,000 --> 00:00:02,000\nhello\n");
  return file;
}
