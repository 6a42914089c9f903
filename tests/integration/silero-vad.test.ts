import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SileroVad } from "../../src/server/asr/vad/silero-vad";
import { decodePcm } from "../../src/server/media/decode-pcm";
import { librivoxClips, makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";

describe("Silero VAD on real speech (onnxruntime-node)", () => {
  let vad: SileroVad;
  let files: TempDir;
  before(async () => {
    vad = await SileroVad.load();
    files = await makeTempDir();
  });
  after(async () => {
    await vad.close();
    await files.cleanup();
  });

  it("finds the speech between two stretches of silence and none inside them", async () => {
    const clip = librivoxClips()[0]!;
    const file = await makeAudio(
      [{ kind: "silence", durationS: 3 }, { kind: "file", path: clip.path }, { kind: "silence", durationS: 4 }],
      { dir: files.dir, name: "speech-in-silence.wav" },
    );
    const audio = await decodePcm(file);
    assert.ok(Math.abs(audio.length / 16_000 - 14.1) < 0.05, `decoded ${audio.length / 16_000} s`);
    const regions = await vad.detect(audio);
    assert.ok(regions.length >= 1, "speech found");
    assert.ok(regions[0]!.startS >= 2.9, `first region starts at ${regions[0]!.startS}`);
    assert.ok(regions[regions.length - 1]!.endS <= 10.3, `last region ends at ${regions[regions.length - 1]!.endS}`);
    const covered = regions.reduce((sum, region) => sum + (region.endS - region.startS), 0);
    assert.ok(covered > 5, `speech covers ${covered} s of a 7.1 s clip`);
  });

  it("finds no speech in silence or in a steady tone", async () => {
    const silence = await decodePcm(await makeAudio([{ kind: "silence", durationS: 5 }], { dir: files.dir, name: "silence.wav" }));
    assert.deepEqual(await vad.detect(silence), []);
    const tone = await decodePcm(await makeAudio([{ kind: "sine", durationS: 5, frequencyHz: 440, volume: 0.3 }], { dir: files.dir, name: "tone.wav" }));
    assert.deepEqual(await vad.detect(tone), []);
  });
});
