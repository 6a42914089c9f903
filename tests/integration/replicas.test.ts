import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { librivoxClips, makeTempDir, type TempDir } from "../helpers/fixtures";
import { startServerProcess, type ServerProcess } from "../helpers/server-process";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database";
import { waitFor } from "../helpers/wait-for";
import { submitAsyncJob, type AsyncJob } from "../helpers/async-api";

const JOBS = 8;
const LEASE_MS = 2_000;
const clips = librivoxClips();



/**
 * Two control planes on one PostgreSQL database and one DATA_DIR, each with its own
 * embedded engine (PocketSphinx on real speech): the database is the queue they share.
 */
describe("two control planes share one queue", { timeout: 240_000 }, () => {
  let database: TestDatabase;
  let dataDir: TempDir;
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;
  let db: pg.Client;

  before(async () => {
    database = await createTestDatabase("postgresql");
    dataDir = await makeTempDir("replicas-");
    const env = { DATA_DIR: dataDir.dir, DATABASE_URL: database.url, PARALLEL: "1", JOB_LEASE_MS: String(LEASE_MS), JOB_MAX_ATTEMPTS: "3", JOB_RETRY_BASE_MS: "200" };
    a = await startServerProcess({ env });
    b = await startServerProcess({ env });
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
  });
  after(async () => {
    await a?.kill("SIGKILL");
    await b?.kill("SIGKILL");
    await db?.end();
    await database?.drop();
    await dataDir?.cleanup();
  });

  it(`finishes every job queued through A, exactly once, when A is SIGKILLed mid-job`, async () => {
    const names: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const clip = clips[i % clips.length]!;
      names.push(await submitAsyncJob(a!.baseUrl, clip.path));
    }
    const ids = names.map((name) => name.replace(/^transcribe-/, ""));

    // A holds a job (its lease owner names A's process) when it dies.
    const aPid = a!.child.pid!;
    const held = await waitFor("A to hold a running job", 60_000, async () => {
      const rows = await db.query<{ id: string }>(`SELECT "id" FROM "Job" WHERE "status" = 'RUNNING' AND "leaseOwner" LIKE $1`, [`%:${aPid}:%`]);
      return rows.rows[0]?.id;
    });
    await a!.kill("SIGKILL");
    const killedAt = Date.now();

    const final = await waitFor("B to finish every job", 180_000, async () => {
      const rows = await db.query<{ id: string; status: string; attempts: number }>(`SELECT "id", "status", "attempts" FROM "Job" WHERE "id" = ANY($1)`, [ids]);
      return rows.rows.every((row) => row.status === "DONE" || row.status === "FAILED") ? rows.rows : undefined;
    });
    assert.equal(final.length, JOBS);
    for (const row of final) assert.equal(row.status, "DONE", `${row.id} ended ${row.status}`);

    // Exactly once: one transcript and one "Done" per job.
    const transcripts = await db.query<{ jobId: string; count: string }>(`SELECT "jobId", COUNT(*) AS count FROM "Transcript" WHERE "jobId" = ANY($1) GROUP BY "jobId"`, [ids]);
    assert.equal(transcripts.rows.length, JOBS);
    for (const row of transcripts.rows) assert.equal(Number(row.count), 1, `${row.jobId} has ${row.count} transcripts`);
    const done = await db.query<{ jobId: string; count: string }>(`SELECT "jobId", COUNT(*) AS count FROM "JobLog" WHERE "jobId" = ANY($1) AND "message" = 'Done' GROUP BY "jobId"`, [ids]);
    for (const row of done.rows) assert.equal(Number(row.count), 1, `${row.jobId} completed ${row.count} times`);

    // The job A held came back when its lease ran out, and B ran it as attempt 2.
    const heldRow = final.find((row) => row.id === held)!;
    assert.equal(heldRow.attempts, 2);
    // Prisma's timestamps are UTC without a zone: read them as epoch milliseconds.
    const log = await db.query<{ message: string; ms: string }>(`SELECT "message", EXTRACT(EPOCH FROM "at" AT TIME ZONE 'UTC') * 1000 AS ms FROM "JobLog" WHERE "jobId" = $1 ORDER BY "id"`, [held]);
    const requeued = log.rows.find((line) => /stopped responding; re-queued/.test(line.message));
    assert.ok(requeued, log.rows.map((line) => line.message).join("\n"));
    const restarted = log.rows.find((line) => line.message.startsWith("Attempt 2 started"))!;
    // Retried jobs queue behind the ones already waiting (their runAt is later), so B ran those first.
    console.log(
      `# A's job was re-queued ${Math.round(Number(requeued.ms) - killedAt)} ms after A was killed (lease ${LEASE_MS} ms) and started again on B after ${Math.round(Number(restarted.ms) - killedAt)} ms`,
    );
    // B also served every status read meanwhile: the queue never depended on A.
    const listed = (await (await fetch(`${b!.baseUrl}/transcribe-jobs?max_results=100`)).json()) as { jobs: AsyncJob[] };
    assert.deepEqual(listed.jobs.map((job) => job.job_name).sort(), [...names].sort());
  });
});
