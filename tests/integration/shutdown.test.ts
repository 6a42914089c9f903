import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, it } from "node:test";
import { openDatabase } from "../../src/server/db/client";
import { makeTempDir, type TempDir } from "../helpers/fixtures";
import { startServerProcess, type ServerProcess } from "../helpers/server-process";
import { toneWav } from "../helpers/wav";
import { waitFor } from "../helpers/wait-for";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");


/** SIGTERM drains; a second signal forces at once; either way the job is left where the next start finds it. */
describe("shutdown on signals", { timeout: 120_000 }, () => {
  let server: ServerProcess | undefined;
  let temp: TempDir | undefined;
  afterEach(async () => {
    await server?.kill("SIGKILL");
    await temp?.cleanup();
  });

  /** A server whose engine sleeps for as long as the audio lasts, and one job of `seconds` of audio, running. */
  const startWithRunningJob = async (seconds: number) => {
    temp = await makeTempDir("shutdown-");
    server = await startServerProcess({
      env: {
        DATA_DIR: temp.dir,
        PARALLEL: "1",
        SHUTDOWN_GRACE_MS: "60000",
        ASR_ENGINE_MODULE: path.join(ROOT, "bench/sleepy-engine.ts"),
        SLEEPY_SPEEDUP: "1",
      },
    });
    const form = new FormData();
    form.append("file", new Blob([new Uint8Array(toneWav({ durationS: seconds }))]), "tone.wav");
    const response = await fetch(`${server.baseUrl}/transcribe-batch-async`, { method: "POST", body: form });
    assert.equal(response.status, 201);
    const { job_name: name } = (await response.json()) as { job_name: string };
    const statusUrl = `${server.baseUrl}/transcribe-job/${name}`;
    await waitFor("the job to run", 30_000, async () => (((await (await fetch(statusUrl)).json()) as { status: string }).status === "IN_PROGRESS" ? true : undefined));
    return { jobId: name.replace(/^transcribe-/, ""), exited: new Promise<number | null>((resolve) => server!.child.once("exit", (code) => resolve(code))) };
  };

  const readJob = async (jobId: string) => {
    const db = await openDatabase(`file:${path.join(temp!.dir, "transcribe.db")}`);
    try {
      return await db.prisma.job.findUniqueOrThrow({ where: { id: jobId }, include: { logs: { orderBy: { id: "asc" } } } });
    } finally {
      await db.close();
    }
  };

  it("drains on SIGTERM: the running job finishes, then the process exits", async () => {
    const { jobId, exited } = await startWithRunningJob(2);
    server!.child.kill("SIGTERM");
    assert.equal(await exited, 0);
    const job = await readJob(jobId);
    assert.equal(job.status, "DONE");
  });

  it("forces on a second SIGTERM: the process stops at once and the running job goes back to the queue", async () => {
    // 60 s of audio: a drain would take a minute, far past this test's waits.
    const { jobId, exited } = await startWithRunningJob(60);
    server!.child.kill("SIGTERM");
    await waitFor("the drain to begin", 10_000, () => (/"msg":"shutting down"/.test(server!.output()) ? true : undefined));
    assert.equal(server!.child.exitCode, null, "still draining after the first signal");
    const forcedAt = Date.now();
    server!.child.kill("SIGTERM");
    const code = await Promise.race([exited, new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), 10_000))]);
    assert.equal(code, 0, "exited after the second signal");
    console.log(`# exited ${Date.now() - forcedAt} ms after the second SIGTERM`);
    assert.match(server!.output(), /"msg":"second signal: forcing shutdown"/);
    const job = await readJob(jobId);
    assert.equal(job.status, "QUEUED");
    assert.equal(job.lastError, "The server shut down during this attempt");
    assert.ok(job.logs.some((line) => line.message === "Attempt 1 interrupted, will retry: The server shut down during this attempt"));
  });
});
