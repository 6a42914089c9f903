import { OPERATOR } from "../../src/server/access";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import pg from "pg";
import { createCaller } from "../../src/server/api/trpc/root";
import { eachLimited } from "../../src/shared/each-limited";
import { sql } from "../../src/server/db/sql/sql-client";
import { openSqlClient } from "../../src/server/db/sql/open-sql-client";
import { startFakeOpenAiServer, requestedCues, type FakeOpenAiServer } from "../helpers/fake-openai-server";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { waitFor } from "../helpers/wait-for";

const FILES = 2_000;
const LIMIT = 4;

/**
 * A RunningPeak row the database itself keeps: a trigger records the most fix_srt jobs ever
 * RUNNING at once, at every transition to RUNNING, so no sample can miss a peak.
 */
const PEAK_TRIGGER = {
  sqlite: [
    `CREATE TABLE "RunningPeak" ("n" INTEGER NOT NULL)`,
    `INSERT INTO "RunningPeak" VALUES (0)`,
    `CREATE TRIGGER "running_peak" AFTER UPDATE OF "status" ON "Job" WHEN NEW."status" = 'RUNNING' AND NEW."type" = 'fix_srt'
     BEGIN UPDATE "RunningPeak" SET "n" = max("n", (SELECT COUNT(*) FROM "Job" WHERE "status" = 'RUNNING' AND "type" = 'fix_srt')); END`,
  ],
  postgresql: [
    `CREATE TABLE "RunningPeak" ("n" INTEGER NOT NULL)`,
    `INSERT INTO "RunningPeak" VALUES (0)`,
    `CREATE FUNCTION running_peak() RETURNS trigger AS $$ BEGIN
       UPDATE "RunningPeak" SET "n" = GREATEST("n", (SELECT COUNT(*) FROM "Job" WHERE "status" = 'RUNNING' AND "type" = 'fix_srt'));
       RETURN NULL; END $$ LANGUAGE plpgsql`,
    `CREATE TRIGGER running_peak AFTER UPDATE OF "status" ON "Job" FOR EACH ROW WHEN (NEW."status" = 'RUNNING' AND NEW."type" = 'fix_srt') EXECUTE FUNCTION running_peak()`,
  ],
};

/** Writes PostgreSQL counted for this database: rows inserted, updated, deleted, and commits. */
async function postgresWrites(url: string): Promise<{ rows: number; commits: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // The statistics collector reports with a delay; ask for a fresh snapshot.
    await client.query("SELECT pg_stat_clear_snapshot()");
    const row = (await client.query<{ rows: string; commits: string }>(`SELECT tup_inserted + tup_updated + tup_deleted AS rows, xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()`)).rows[0]!;
    return { rows: Number(row.rows), commits: Number(row.commits) };
  } finally {
    await client.end();
  }
}

for (const provider of TEST_PROVIDERS) {
  describe(`the LLM lane on ${provider}`, { timeout: 600_000 }, () => {
    let llm: FakeOpenAiServer;
    let t: TestApp;
    after(async () => {
      await t?.close();
      await llm?.close();
    });

    it(`runs a batch_fix_srt of ${FILES} SRTs with at most MAX_LLM_CONCURRENCY (${LIMIT}) jobs RUNNING, every child DONE`, async () => {
      llm = await startFakeOpenAiServer((request) => ({ kind: "content", content: JSON.stringify({ cues: requestedCues(request).map((cue) => ({ ...cue, text: cue.text.replace("teh", "The") })) }) }));
      t = await startTestApp(provider, { OPENAI_BASE_URL: llm.baseURL, OPENAI_API_KEY: "test", MAX_LLM_CONCURRENCY: String(LIMIT) });
      const peakDb = openSqlClient(t.databaseUrl);
      try {
        for (const statement of PEAK_TRIGGER[provider]) await peakDb.run(sql(statement));
      } finally {
        await peakDb.close();
      }

      const ids: string[] = [];
      await eachLimited(
        Array.from({ length: FILES }, (_, i) => i),
        8,
        async (i) => {
          const srt = `1\n00:00:01,000 --> 00:00:02,500\nteh cue of file ${i}\n\n2\n00:00:03,000 --> 00:00:04,000\nteh end\n`;
          ids[i] = (await t.app.media.ingest(Readable.from([Buffer.from(srt)]), { originalName: `file-${i}.srt`, contentType: "application/x-subrip" })).id;
        },
      );

      const before = { sql: t.app.sqlStats(), pg: provider === "postgresql" ? await postgresWrites(t.databaseUrl) : null, at: performance.now() };
      const batch = await createCaller({ app: t.app, principal: OPERATOR }).jobs.createBatch({ mediaFileIds: ids, type: "batch_fix_srt" });
      const settled = await t.app.jobs.waitForSettled(batch.id, 540_000);
      const elapsedS = (performance.now() - before.at) / 1000;
      const afterStats = { sql: t.app.sqlStats(), pg: provider === "postgresql" ? await postgresWrites(t.databaseUrl) : null };

      assert.equal(settled.status, "DONE", settled.failureReason ?? "");
      const summary = await t.app.jobs.batchSummary(batch.id);
      assert.deepEqual({ total: summary.total, done: summary.done }, { total: FILES, done: FILES });
      assert.ok(llm.peakInFlight() <= LIMIT, `${llm.peakInFlight()} LLM requests in flight at once`);
      const check = openSqlClient(t.databaseUrl);
      try {
        const peak = Number((await check.all(sql(`SELECT "n" FROM "RunningPeak"`)))[0]!.n);
        assert.ok(peak >= 1 && peak <= LIMIT, `${peak} fix_srt jobs were RUNNING at once`);
        console.log(`# ${provider}: peak RUNNING ${peak} (limit ${LIMIT})`);
      } finally {
        await check.close();
      }

      const statements = afterStats.sql.statements - before.sql.statements;
      const transactions = afterStats.sql.transactions - before.sql.transactions;
      console.log(
        `# ${provider}: ${FILES} jobs in ${elapsedS.toFixed(1)} s (${(FILES / elapsedS).toFixed(0)} jobs/s); job-system statements ${statements} (${(statements / elapsedS).toFixed(0)}/s, ${(statements / FILES).toFixed(1)} per job), transactions ${transactions} (${(transactions / elapsedS).toFixed(0)}/s)`,
      );
      if (before.pg && afterStats.pg) {
        const rows = afterStats.pg.rows - before.pg.rows;
        const commits = afterStats.pg.commits - before.pg.commits;
        console.log(`# postgresql counted ${rows} rows written (${(rows / elapsedS).toFixed(0)}/s) and ${commits} commits (${(commits / elapsedS).toFixed(0)}/s), all clients`);
      }
    });

    it("cancels a batch of 3,000 children in one statement, ends its parent CANCELLED, and keeps answering meanwhile", async () => {
      const hanging = await startFakeOpenAiServer(() => ({ kind: "hang" }));
      const app = await startTestApp(provider, { OPENAI_BASE_URL: hanging.baseURL, OPENAI_API_KEY: "test", MAX_LLM_CONCURRENCY: String(LIMIT) });
      try {
        const srt = "1\n00:00:01,000 --> 00:00:02,500\nteh cue\n";
        const media = await app.app.media.ingest(Readable.from([Buffer.from(srt)]), { originalName: "one.srt", contentType: "application/x-subrip" });
        const caller = createCaller({ app: app.app, principal: OPERATOR });
        const batch = await caller.jobs.createBatch({ mediaFileIds: Array.from({ length: 3000 }, () => media.id), type: "batch_fix_srt" });
        await waitFor(`${LIMIT} children running (their LLM requests hang)`, 60_000, async () => ((await app.app.jobs.batchSummary(batch.id)).running === LIMIT ? true : undefined));
        const statementsBefore = app.app.sqlStats().statements;
        // /live is asked while the cancel runs and must answer (it queries the database).
        const [cancelled, live] = await Promise.all([caller.jobs.cancel({ id: batch.id }), fetch(`${app.baseUrl}/live`)]);
        assert.equal(live.status, 200);
        assert.ok(cancelled);
        const settled = await app.app.jobs.waitForSettled(batch.id, 60_000);
        assert.equal(settled.status, "CANCELLED");
        const summary = await app.app.jobs.batchSummary(batch.id);
        assert.equal(summary.total, 3000);
        assert.equal(summary.cancelled, 3000);
        // A settle per child used to re-read every child (3,000 × 3,000 rows): now a few statements in all.
        const statements = app.app.sqlStats().statements - statementsBefore;
        assert.ok(statements < 100, `${statements} job-system statements to cancel the batch`);
      } finally {
        await app.close();
        await hanging.close();
      }
    });
  });
}
