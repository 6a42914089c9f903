import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openDatabase, type Database } from "../../src/server/db/client";
import { migrateDatabase } from "../../src/server/db/migrate";
import { openSqlClient } from "../../src/server/db/sql/open-sql-client";
import { sql, type SqlClient } from "../../src/server/db/sql/sql-client";
import { JobStore } from "../../src/server/jobs/job-store";
import { createTestDatabase, TEST_PROVIDERS, type TestDatabase } from "../helpers/test-database";

/** The conditional transitions that make at-least-once execution have exactly-once effect. */
for (const provider of TEST_PROVIDERS) {
  describe(`JobStore transitions on ${provider}`, () => {
    let testDb: TestDatabase;
    let database: Database;
    let store: JobStore;
    let sqlClient: SqlClient;

    before(async () => {
      testDb = await createTestDatabase(provider);
      await migrateDatabase(testDb.url);
      database = await openDatabase(testDb.url);
      sqlClient = openSqlClient(testDb.url);
      store = new JobStore(sqlClient);
    });
    after(async () => {
      await sqlClient.close();
      await database.close();
      await testDb.drop();
    });

    const newJob = (maxAttempts = 3) => store.create({ type: "transcribe", origin: "test", params: {}, maxAttempts });
    const countDone = async (jobId: string) => (await database.prisma.jobLog.findMany({ where: { jobId, message: "Done" } })).length;

    it("claims a queued job once; a second claim gets nothing", async () => {
      const job = await newJob();
      const [a, b] = await Promise.all([store.claim(job.id, "owner-a", 10_000, 1), store.claim(job.id, "owner-b", 10_000, 1)]);
      assert.equal([a, b].filter(Boolean).length, 1);
      const claimed = (a ?? b)!;
      assert.equal(claimed.status, "RUNNING");
      assert.equal(claimed.attempts, 1);
    });

    it("applies a completion once, ignoring a duplicate delivery of the same result", async () => {
      const job = await newJob();
      const claimed = (await store.claim(job.id, "owner", 10_000, 1))!;
      const ref = { jobId: job.id, owner: "owner", attempt: claimed.attempts };
      const complete = () => store.complete(ref, { ok: true }, [{ level: "info", message: "Done" }]);
      const results = await Promise.all([complete(), complete()]);
      assert.deepEqual(results.sort(), [false, true]);
      assert.equal(await countDone(job.id), 1);
      assert.equal((await store.find(job.id))!.status, "DONE");
    });

    it("ignores a late result from an attempt that was already retried", async () => {
      const job = await newJob();
      const first = (await store.claim(job.id, "owner-1", 1, 1))!;
      await new Promise((resolve) => setTimeout(resolve, 20));
      const reaped = await store.reapExpiredLeases();
      assert.deepEqual(reaped.requeued, [job.id]);
      const second = (await store.claim(job.id, "owner-2", 10_000, 1))!;
      assert.equal(second.attempts, 2);
      const stale = await store.complete({ jobId: job.id, owner: "owner-1", attempt: first.attempts }, { from: 1 }, [{ level: "info", message: "Done" }]);
      assert.equal(stale, false);
      assert.equal(await store.heartbeat({ jobId: job.id, owner: "owner-1", attempt: 1 }, 10_000), false, "the zombie lost its lease");
      const fresh = await store.complete({ jobId: job.id, owner: "owner-2", attempt: 2 }, { from: 2 }, [{ level: "info", message: "Done" }]);
      assert.equal(fresh, true);
      assert.equal((await store.find(job.id))!.result, JSON.stringify({ from: 2 }));
      assert.equal(await countDone(job.id), 1);
    });

    it("rolls back the completion when writing outputs fails", async () => {
      const job = await newJob();
      await store.claim(job.id, "owner", 10_000, 1);
      // An output that violates a foreign key: the whole completion must roll back with it.
      const orphan = sql(`INSERT INTO "Transcript" ("id", "jobId", "language", "engine", "text", "durationS", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?)`, "t-1", "no-such-job", "en", "x", "", 1, new Date());
      await assert.rejects(store.complete({ jobId: job.id, owner: "owner", attempt: 1 }, {}, [], [orphan]));
      assert.equal((await store.find(job.id))!.status, "RUNNING");
    });

    it("fails a job whose worker died on its last attempt, with a reason", async () => {
      const job = await newJob(1);
      await store.claim(job.id, "owner", 1, 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const reaped = await store.reapExpiredLeases();
      assert.deepEqual(reaped.failed, [job.id]);
      const failed = (await store.find(job.id))!;
      assert.equal(failed.status, "FAILED");
      assert.match(failed.failureReason ?? "", /stopped responding \(attempt 1 of 1\)/);
    });

    it("does not let a cancelled job be completed", async () => {
      const job = await newJob();
      await store.claim(job.id, "owner", 10_000, 1);
      await database.prisma.job.update({ where: { id: job.id }, data: { status: "CANCELLED" } });
      assert.equal(await store.complete({ jobId: job.id, owner: "owner", attempt: 1 }, {}, []), false);
      assert.equal(await store.heartbeat({ jobId: job.id, owner: "owner", attempt: 1 }, 10_000), false);
    });
  });
}
