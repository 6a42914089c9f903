import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openDatabase, type Database } from "../../src/server/db/client";
import { migrateDatabase } from "../../src/server/db/migrate";
import { openSqlClient } from "../../src/server/db/sql/open-sql-client";
import { sql, type SqlClient } from "../../src/server/db/sql/sql-client";
import { createInProcessJobEventBus, type JobEvent } from "../../src/server/jobs/job-events";
import { JobStore, type NewJob } from "../../src/server/jobs/job-store";
import { createTestDatabase, TEST_PROVIDERS, type TestDatabase } from "../helpers/test-database";

/** The conditional transitions that make at-least-once execution have exactly-once effect, and the queue's claims. */
for (const provider of TEST_PROVIDERS) {
  describe(`JobStore transitions on ${provider}`, () => {
    let testDb: TestDatabase;
    let database: Database;
    let store: JobStore;
    let sqlClient: SqlClient;
    const events: JobEvent[] = [];

    before(async () => {
      testDb = await createTestDatabase(provider);
      await migrateDatabase(testDb.url);
      database = await openDatabase(testDb.url);
      sqlClient = openSqlClient(testDb.url);
      const bus = createInProcessJobEventBus();
      bus.subscribe((event) => events.push(event));
      store = new JobStore(sqlClient, bus);
    });
    after(async () => {
      await sqlClient.close();
      await database.close();
      await testDb.drop();
    });

    /** Each test works in a lane of its own type, so claims never see another test's jobs. */
    const spec = (type: string, extra: Partial<NewJob> = {}): NewJob => ({ type, origin: "test", params: {}, maxAttempts: 3, ...extra });
    const clearQueue = async () => {
      await sqlClient.run(sql(`UPDATE "Job" SET "status" = 'CANCELLED' WHERE "status" = 'QUEUED'`));
    };
    const countDone = async (jobId: string) => (await database.prisma.jobLog.findMany({ where: { jobId, message: "Done" } })).length;
    const claimOne = async (owner: string, leaseMs = 10_000) => (await store.claim({ lanes: ["asr"], owner, leaseMs, limit: 1 }))[0];

    it("claims a queued job once, however many claim at the same time", async () => {
      await clearQueue();
      const jobs = await Promise.all(Array.from({ length: 6 }, () => store.create(spec("transcribe"))));
      const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => store.claim({ lanes: ["asr"], owner: `owner-${i}`, leaseMs: 10_000, limit: 1 })));
      const claimed = claims.flat();
      assert.equal(claimed.length, 6, "every job claimed");
      assert.deepEqual(new Set(claimed.map((job) => job.id)), new Set(jobs.map((job) => job.id)), "each exactly once");
      for (const job of claimed) {
        assert.equal(job.status, "RUNNING");
        assert.equal(job.attempts, 1);
      }
      const log = await database.prisma.jobLog.findMany({ where: { jobId: claimed[0]!.id } });
      assert.ok(log.some((line) => /^Attempt 1 started on 1 engine \(of at most 3\)$/.test(line.message)));
    });

    it("claims in queue order, only from its lanes, and a prefix whose engines fit the budget", async () => {
      await clearQueue();
      const a = await store.create(spec("transcribe", { enginesRequested: 1 }));
      const b = await store.create(spec("transcribe", { enginesRequested: 2 }));
      const c = await store.create(spec("transcribe", { enginesRequested: 1 }));
      const llm = await store.create(spec("fix_srt", { enginesRequested: 0 }));
      // 2 free engines: a (1) fits, b (2) would make 3, so b and everything after it waits: no overtaking.
      const first = await store.claim({ lanes: ["asr"], owner: "o", leaseMs: 10_000, limit: 2, engineBudget: 2, maxEngines: 4 });
      assert.deepEqual(first.map((job) => job.id), [a.id]);
      const second = await store.claim({ lanes: ["asr"], owner: "o", leaseMs: 10_000, limit: 3, engineBudget: 3, maxEngines: 4 });
      assert.deepEqual(second.map((job) => job.id), [b.id, c.id]);
      assert.deepEqual((await store.claim({ lanes: ["llm"], owner: "o", leaseMs: 10_000, limit: 5 })).map((job) => job.id), [llm.id]);
    });

    it("passes over a job that asks for more engines than this process has", async () => {
      await clearQueue();
      const big = await store.create(spec("transcribe", { enginesRequested: 8 }));
      const small = await store.create(spec("transcribe", { enginesRequested: 1 }));
      const claimed = await store.claim({ lanes: ["asr"], owner: "o", leaseMs: 10_000, limit: 2, engineBudget: 2, maxEngines: 2 });
      assert.deepEqual(claimed.map((job) => job.id), [small.id]);
      assert.equal((await store.find(big.id))!.status, "QUEUED");
    });

    it("hands a claimed job back uncounted when this process cannot start it after all", async () => {
      await clearQueue();
      const job = await store.create(spec("transcribe"));
      const claimed = (await claimOne("owner"))!;
      assert.equal(await store.unclaim({ jobId: job.id, attempt: 1, owner: "someone-else" }, claimed), false, "only the claimer can hand it back");
      assert.equal(await store.unclaim({ jobId: job.id, attempt: 1, owner: "owner" }, claimed), true);
      const back = (await store.find(job.id))!;
      assert.deepEqual({ status: back.status, attempts: back.attempts, leaseOwner: back.leaseOwner }, { status: "QUEUED", attempts: 0, leaseOwner: null });
      assert.equal((await claimOne("other"))!.attempts, 1, "the next claim is attempt 1 again");
    });

    it("applies a completion once, ignoring a duplicate delivery of the same result", async () => {
      await clearQueue();
      const job = await store.create(spec("transcribe"));
      const claimed = (await claimOne("owner"))!;
      const ref = { jobId: job.id, owner: "owner", attempt: claimed.attempts };
      const complete = () => store.complete(ref, claimed, { ok: true }, []);
      const results = await Promise.all([complete(), complete()]);
      assert.deepEqual(results.sort(), [false, true]);
      assert.equal(await countDone(job.id), 1);
      assert.equal((await store.find(job.id))!.status, "DONE");
    });

    it("completes a remote attempt by its number alone, whoever received the result", async () => {
      await clearQueue();
      const job = await store.create(spec("transcribe"));
      const claimed = (await claimOne("replica-a"))!;
      await store.markSent([{ jobId: job.id, attempt: 1, owner: "replica-a" }], 60_000, "queue");
      assert.equal(await store.renewRemoteLease({ jobId: job.id, attempt: 1 }, "worker-1", 5_000, 0.5), true);
      const running = (await store.find(job.id))!;
      assert.equal(running.leaseOwner, "worker-1");
      assert.equal(running.progress, 0.5);
      assert.equal(await store.renewRemoteLease({ jobId: job.id, attempt: 2 }, "worker-2", 5_000), false, "a heartbeat for another attempt is ignored");
      assert.equal(await store.complete({ jobId: job.id, attempt: 1 }, claimed, { from: "replica-b" }, []), true);
      assert.equal(await store.complete({ jobId: job.id, attempt: 1 }, claimed, { from: "replica-c" }, []), false);
      assert.equal((await store.find(job.id))!.result, JSON.stringify({ from: "replica-b" }));
    });

    it("ignores a late result from an attempt that was already retried", async () => {
      await clearQueue();
      const job = await store.create(spec("transcribe"));
      const first = (await claimOne("owner-1", 1))!;
      await new Promise((resolve) => setTimeout(resolve, 20));
      const reaped = await store.reapExpiredLeases(() => new Date());
      assert.deepEqual(reaped.requeued.map((row) => row.id), [job.id]);
      const second = (await claimOne("owner-2"))!;
      assert.equal(second.attempts, 2);
      const stale = await store.complete({ jobId: job.id, owner: "owner-1", attempt: first.attempts }, first, { from: 1 }, []);
      assert.equal(stale, false);
      assert.equal(await store.heartbeat({ jobId: job.id, owner: "owner-1", attempt: 1 }, first, 10_000), false, "the zombie lost its lease");
      const fresh = await store.complete({ jobId: job.id, owner: "owner-2", attempt: 2 }, second, { from: 2 }, []);
      assert.equal(fresh, true);
      assert.equal((await store.find(job.id))!.result, JSON.stringify({ from: 2 }));
      assert.equal(await countDone(job.id), 1);
    });

    it("retries later: not claimable before its runAt, claimable after, and says so to the scheduler", async () => {
      await clearQueue();
      const job = await store.create(spec("transcribe"));
      const claimed = (await claimOne("owner"))!;
      events.length = 0;
      const runAt = new Date(Date.now() + 60_000);
      assert.equal(await store.retryLater({ jobId: job.id, owner: "owner", attempt: 1 }, claimed, "flaky", runAt, [{ level: "warn", message: "retrying" }]), true);
      assert.deepEqual(events, [
        { type: "changed", jobId: job.id, parentId: null, status: "QUEUED", progress: 0 },
        { type: "runnable", lane: "asr", at: runAt.getTime() },
      ]);
      assert.equal(await claimOne("owner"), undefined, "not before its backoff ends");
      assert.equal((await store.nextRunAt(["asr"]))!.getTime(), runAt.getTime());
      await sqlClient.run(sql(`UPDATE "Job" SET "runAt" = ? WHERE "id" = ?`, new Date(Date.now() - 1), job.id));
      const again = (await claimOne("owner"))!;
      assert.equal(again.id, job.id);
      assert.equal(again.attempts, 2);
      assert.equal(again.lastError, "flaky");
    });

    it("rolls back the completion when writing outputs fails", async () => {
      await clearQueue();
      const job = await store.create(spec("transcribe"));
      const claimed = (await claimOne("owner"))!;
      // An output that violates a foreign key: the whole completion must roll back with it.
      const orphan = sql(`INSERT INTO "Transcript" ("id", "jobId", "language", "engine", "text", "durationS", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?)`, "t-1", "no-such-job", "en", "x", "", 1, new Date());
      await assert.rejects(store.complete({ jobId: job.id, owner: "owner", attempt: 1 }, claimed, {}, [], [orphan]));
      assert.equal((await store.find(job.id))!.status, "RUNNING");
    });

    it("fails a job whose worker died on its last attempt, with a reason", async () => {
      await clearQueue();
      const job = await store.create(spec("transcribe", { maxAttempts: 1 }));
      await claimOne("owner", 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const reaped = await store.reapExpiredLeases(() => new Date());
      assert.deepEqual(reaped.failed.map((row) => row.id), [job.id]);
      const failed = (await store.find(job.id))!;
      assert.equal(failed.status, "FAILED");
      assert.match(failed.failureReason ?? "", /stopped responding \(attempt 1 of 1\)/);
    });

    it("does not let a cancelled job be completed", async () => {
      await clearQueue();
      const job = await store.create(spec("transcribe"));
      const claimed = (await claimOne("owner"))!;
      assert.equal((await store.cancel(job.id)).length, 1);
      assert.equal(await store.complete({ jobId: job.id, owner: "owner", attempt: 1 }, claimed, {}, []), false);
      assert.equal(await store.heartbeat({ jobId: job.id, owner: "owner", attempt: 1 }, claimed, 10_000), false);
    });

    it("cancels a batch and its unfinished children in one statement, logging each, and retries only the failed and cancelled", async () => {
      await clearQueue();
      const { parent, childIds } = await store.createBatch(spec("batch_fix_srt"), Array.from({ length: 5 }, () => spec("fix_srt", { enginesRequested: 0 })), [{ level: "info", message: "accepted" }]);
      assert.equal(parent.status, "RUNNING");
      // Child 0 finishes, child 1 runs, the rest wait.
      const [first, second] = await store.claim({ lanes: ["llm"], owner: "o", leaseMs: 10_000, limit: 2 });
      assert.deepEqual([first!.id, second!.id], childIds.slice(0, 2), "children are claimed in the order they were given");
      await store.complete({ jobId: first!.id, owner: "o", attempt: 1 }, first!, {}, []);
      const cancelled = await store.cancel(parent.id);
      assert.deepEqual(new Set(cancelled.map((job) => job.id)), new Set([parent.id, ...childIds.slice(1)]));
      const logged = await database.prisma.jobLog.findMany({ where: { message: "Cancelled by request", jobId: { in: [parent.id, ...childIds] } } });
      assert.equal(logged.length, 5);
      assert.equal((await store.find(childIds[0]!))!.status, "DONE", "a finished child stays finished");

      const retried = await store.retry(parent.id);
      assert.deepEqual(new Set(retried.map((job) => job.id)), new Set(childIds.slice(1)));
      assert.equal((await store.find(parent.id))!.status, "RUNNING");
      for (const id of childIds.slice(1)) {
        const child = (await store.find(id))!;
        assert.equal(child.status, "QUEUED");
        assert.equal(child.attempts, 0);
      }
      assert.deepEqual(await store.childCounts(parent.id), { QUEUED: 4, RUNNING: 0, DONE: 1, FAILED: 0, CANCELLED: 0 });
    });

    it("finishes a batch only once every child has finished, exactly once", async () => {
      await clearQueue();
      const { parent, childIds } = await store.createBatch(spec("batch_fix_srt"), [spec("fix_srt"), spec("fix_srt")], []);
      const early = await store.finishBatch(parent.id, "DONE", {}, null, { level: "info", message: "finished" });
      assert.equal(early, false, "children are still queued");
      for (const job of await store.claim({ lanes: ["llm"], owner: "o", leaseMs: 10_000, limit: 2 })) await store.complete({ jobId: job.id, owner: "o", attempt: 1 }, job, {}, []);
      assert.ok((await store.settledBatchesStillRunning(100)).includes(parent.id));
      const results = await Promise.all([1, 2, 3].map(() => store.finishBatch(parent.id, "DONE", {}, null, { level: "info", message: "finished" })));
      assert.deepEqual(results.filter(Boolean).length, 1);
      assert.equal((await store.find(parent.id))!.status, "DONE");
      assert.deepEqual(await store.childIds(parent.id), childIds);
    });

    it("deletes only finished jobs, with their children, in one transaction", async () => {
      await clearQueue();
      const running = await store.create(spec("transcribe"));
      const { parent, childIds } = await store.createBatch(spec("batch_fix_srt"), [spec("fix_srt")], []);
      await store.cancel(parent.id);
      const { deleted } = await store.deleteFinished([running.id, parent.id]);
      assert.deepEqual(deleted, [parent.id]);
      assert.equal(await store.find(childIds[0]!), null, "the child went with its batch");
      assert.ok(await store.find(running.id), "a queued job is not deleted");
    });
  });
}
