import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Engine } from "../../src/server/asr/engine";
import { EnginePool } from "../../src/worker/engine-pool";

/** A slot that records its creation and closing; the pool's bookkeeping is what is under test. */
function countingFactory() {
  const created: Engine[] = [];
  let closed = 0;
  const factory = async (): Promise<Engine> => {
    const engine: Engine = {
      info: { name: "counting", model: "none", provider: "cpu", languages: ["en"] },
      transcribe: async () => ({ language: "en", segments: [] }),
      close: async () => {
        closed += 1;
      },
    };
    created.push(engine);
    return engine;
  };
  return { factory, created, closedCount: () => closed };
}

describe("EnginePool", () => {
  it("reserves and releases slots atomically and reports capacity", async () => {
    const { factory } = countingFactory();
    const pool = new EnginePool(3, factory);
    assert.ok(pool.tryReserve("a", 2));
    assert.equal(pool.tryReserve("b", 2), null, "only one slot left");
    assert.ok(pool.tryReserve("c", 1));
    assert.deepEqual(pool.snapshot(), { maxEngines: 3, usedEngines: 3, unusedEngines: 0, activeJobs: [{ jobId: "a", parallelEngines: 2 }, { jobId: "c", parallelEngines: 1 }] });
    pool.release("a");
    pool.release("a");
    assert.equal(pool.unused, 2, "a double release frees nothing twice");
  });

  it("creates each slot's engine once and reuses it", async () => {
    const { factory, created, closedCount } = countingFactory();
    const pool = new EnginePool(2, factory);
    await pool.warmUp();
    assert.equal(created.length, 2);
    for (let i = 0; i < 5; i++) {
      pool.tryReserve(`job-${i}`, 2);
      const lease = await pool.materialize(`job-${i}`);
      assert.equal(lease.engines.length, 2);
      lease.release();
    }
    assert.equal(created.length, 2);
    await pool.close();
    await pool.close();
    assert.equal(closedCount(), 2, "close is safe to call twice");
    assert.equal(pool.tryReserve("late", 1), null, "a closed pool hands out nothing");
  });
});
