import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import path from "node:path";
import { describe, it } from "node:test";
import { createThreadedEngineFactory } from "../../src/server/asr/worker/threaded-engine";

/**
 * One model per process: slots of an engine with sharedBatching are handles on one engine
 * thread (their calls meet there and are batched); other engines keep a thread per slot.
 */
const PROBE = pathToFileURL(path.resolve(import.meta.dirname, "../helpers/thread-probe-engine.ts")).href;
const signal = () => new AbortController().signal;

describe("engine threads", () => {
  it("gives every slot of a batching engine the same thread, and their calls run there together", async () => {
    const factory = createThreadedEngineFactory({ module: PROBE, options: { sharedBatching: true } });
    // Created concurrently, as EnginePool.materialize does: still one thread.
    const slots = await Promise.all([factory(), factory(), factory()]);
    try {
      assert.equal(new Set(slots.map((slot) => slot.info.model)).size, 1, slots.map((slot) => slot.info.model).join(", "));
      assert.ok(slots.every((slot) => slot.sharedBatching === true));
      const results = await Promise.all(slots.map((slot) => slot.transcribe({ mediaPath: "/dev/null", language: "wait-for-3", signal: signal() })));
      // Each call saw the other two in flight in the same engine.
      for (const result of results) assert.match(result.segments[0]!.text, /:3$/);
      // Closing some handles leaves the engine to the others.
      await slots[0]!.close();
      await slots[1]!.close();
      const after = await slots[2]!.transcribe({ mediaPath: "/dev/null", language: "en", signal: signal() });
      assert.match(after.segments[0]!.text, /:1$/);
    } finally {
      await Promise.all(slots.map((slot) => slot.close()));
    }
    // The last handle closed the thread; a slot made now gets a new one.
    const again = await factory();
    try {
      assert.notEqual(again.info.model, slots[0]!.info.model);
    } finally {
      await again.close();
    }
  });

  it("gives every slot of a one-at-a-time engine its own thread", async () => {
    const factory = createThreadedEngineFactory({ module: PROBE, options: { sharedBatching: false } });
    const slots = await Promise.all([factory(), factory(), factory()]);
    try {
      assert.equal(new Set(slots.map((slot) => slot.info.model)).size, 3);
      assert.ok(slots.every((slot) => slot.sharedBatching === undefined));
    } finally {
      await Promise.all(slots.map((slot) => slot.close()));
    }
  });
});
