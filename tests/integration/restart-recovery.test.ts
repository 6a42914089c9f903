import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { openDatabase } from "../../src/server/db/client";
import { librivoxClips, makeTempDir, type TempDir } from "../helpers/fixtures";
import { startServerProcess, type ServerProcess } from "../helpers/server-process";
import { createTestDatabase, TEST_PROVIDERS, type TestDatabase } from "../helpers/test-database";
import { waitFor } from "../helpers/wait-for";
import { submitAsyncJob, type AsyncJob } from "../helpers/async-api";

const JOBS = 20;
const clips = librivoxClips();


async function listJobs(baseUrl: string): Promise<AsyncJob[]> {
  const response = await fetch(`${baseUrl}/transcribe-jobs?max_results=100`);
  return ((await response.json()) as { jobs: AsyncJob[] }).jobs;
}


for (const provider of TEST_PROVIDERS) {
  describe(`restart recovery on ${provider}`, () => {
    let database: TestDatabase;
    let dataDir: TempDir;
    let server: ServerProcess | undefined;

    after(async () => {
      await server?.kill("SIGKILL");
      await database?.drop();
      await dataDir?.cleanup();
    });

    it(`finishes all ${JOBS} jobs exactly once after a SIGKILL mid-run`, async () => {
      database = await createTestDatabase(provider);
      dataDir = await makeTempDir();
      const env = { DATA_DIR: dataDir.dir, DATABASE_URL: database.url, PARALLEL: "2", JOB_LEASE_MS: "2000", JOB_MAX_ATTEMPTS: "3" };
      server = await startServerProcess({ env });

      const names: string[] = [];
      for (let i = 0; i < JOBS; i++) {
        const clip = clips[i % clips.length]!;
        names.push(await submitAsyncJob(server.baseUrl, clip.path));
      }

      // Kill once some jobs are done and others are mid-transcription.
      const firstUrl = server.baseUrl;
      await waitFor("a completed job and a running one", 60_000, async () => {
        const jobs = await listJobs(firstUrl);
        const done = jobs.filter((job) => job.status === "COMPLETED").length;
        return done >= 1 && jobs.some((job) => job.status === "IN_PROGRESS") ? true : undefined;
      });
      await server.kill("SIGKILL");

      server = await startServerProcess({ env });
      const secondUrl = server.baseUrl;
      const final = await waitFor("every job to finish", 180_000, async () => {
        const jobs = await listJobs(secondUrl);
        return jobs.length === JOBS && jobs.every((job) => job.status === "COMPLETED" || job.status === "FAILED") ? jobs : undefined;
      });

      assert.deepEqual(final.map((job) => job.job_name).sort(), [...names].sort(), "no job lost");
      for (const job of final) {
        if (job.status === "FAILED") assert.match(job.failure_reason ?? "", /attempt/, `${job.job_name} failed without a reason`);
      }

      const db = await openDatabase(database.url);
      try {
        const rows = await db.prisma.job.findMany({ include: { transcript: true, logs: true } });
        assert.equal(rows.length, JOBS);
        for (const row of rows) {
          if (row.status !== "DONE") continue;
          assert.ok(row.transcript, `${row.id} is DONE without a transcript`);
          assert.equal(row.logs.filter((line) => line.message === "Done").length, 1, `${row.id} completed more than once`);
        }
        assert.ok(rows.some((row) => row.attempts >= 2), "at least one job was running when the server was killed and was retried");
        assert.ok(rows.filter((row) => row.status === "DONE").length >= JOBS - 2, "nearly every job succeeds");
      } finally {
        await db.close();
      }
    });
  });
}
