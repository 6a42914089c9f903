import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chooseCut, findSplitPoints } from "../../src/server/media/find-split-points";
import { makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";

let tmp: TempDir;
before(async () => {
  tmp = await makeTempDir("split-points-test-");
});
after(async () => {
  await tmp.cleanup();
});

const signal = (): AbortSignal => new AbortController().signal;

describe("findSplitPoints", () => {
  it("moves the cut into the silence near the middle", async () => {
    // tone 0-7 s, silence 7-8.5 s, tone 8.5-20 s: the equal-division boundary is 10 s.
    const file = await makeAudio(
      [{ kind: "sine", durationS: 7 }, { kind: "silence", durationS: 1.5 }, { kind: "sine", durationS: 11.5 }],
      { dir: tmp.dir, name: "one-gap.wav" },
    );
    const [cut, ...rest] = await findSplitPoints(file, 20, 2, signal());
    assert.equal(rest.length, 0);
    assert.ok(cut !== undefined && cut > 7.2 && cut < 8.3, `cut at ${cut}`);
  });

  it("cuts at the boundary itself when it falls inside a long silence", async () => {
    const file = await makeAudio(
      [{ kind: "sine", durationS: 8 }, { kind: "silence", durationS: 4 }, { kind: "sine", durationS: 8 }],
      { dir: tmp.dir, name: "long-gap.wav" },
    );
    assert.deepEqual(await findSplitPoints(file, 20, 2, signal()), [10]);
  });

  it("returns k-1 increasing cuts, each in its own silence", async () => {
    // Silences at 9-10 s and 19.5-20.5 s; boundaries at 10 and 20 for 3 parts of 30 s.
    const file = await makeAudio(
      [
        { kind: "sine", durationS: 9 },
        { kind: "silence", durationS: 1 },
        { kind: "sine", durationS: 9.5 },
        { kind: "silence", durationS: 1 },
        { kind: "sine", durationS: 9.5 },
      ],
      { dir: tmp.dir, name: "two-gaps.wav" },
    );
    const cuts = await findSplitPoints(file, 30, 3, signal());
    assert.equal(cuts.length, 2);
    const [first, second] = cuts as [number, number];
    assert.ok(first >= 9 && first <= 10, `first cut ${first}`);
    assert.ok(second >= 19.5 && second <= 20.5, `second cut ${second}`);
  });

  it("falls back to the exact boundaries when there is no silence", async () => {
    const file = await makeAudio([{ kind: "noise", durationS: 24, amplitude: 0.3 }], { dir: tmp.dir, name: "noise.wav" });
    assert.deepEqual(await findSplitPoints(file, 24, 3, signal()), [8, 16]);
  });

  it("ignores silences farther than the search window", async () => {
    const file = await makeAudio(
      [{ kind: "sine", durationS: 2 }, { kind: "silence", durationS: 1 }, { kind: "sine", durationS: 17 }],
      { dir: tmp.dir, name: "far-gap.wav" },
    );
    assert.deepEqual(await findSplitPoints(file, 20, 2, signal(), { searchWindowS: 3 }), [10]);
  });

  it("returns nothing for one part", async () => {
    assert.deepEqual(await findSplitPoints("/does/not/matter.wav", 100, 1, signal()), []);
  });

  it("rejects when aborted", async () => {
    const file = await makeAudio([{ kind: "sine", durationS: 20 }], { dir: tmp.dir, name: "abort.wav" });
    await assert.rejects(findSplitPoints(file, 20, 2, AbortSignal.abort()), { name: "AbortError" });
  });
});

describe("chooseCut", () => {
  it("prefers the silence closest to the boundary, keeping a margin inside it", () => {
    const silences = [{ startS: 5, endS: 6 }, { startS: 11, endS: 14 }];
    assert.equal(chooseCut(10, silences, 5), 11.5);
    assert.equal(chooseCut(12, silences, 5), 12);
    assert.equal(chooseCut(10, [{ startS: 9.9, endS: 10.1 }], 5), 10);
    assert.equal(chooseCut(10, [{ startS: 2, endS: 3 }], 5), null);
  });
});
