import { OPERATOR } from "../../src/server/access";
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { TRPCError } from "@trpc/server";
import { createCaller } from "../../src/server/api/trpc/root";
import type { MediaFile } from "../../src/server/db/models";
import { librivoxClips, makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";

const clips = librivoxClips();

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const provider of TEST_PROVIDERS) {
  describe(`tRPC jobs router on ${provider}`, () => {
    let t: TestApp;
    let files: TempDir;
    let caller: ReturnType<typeof createCaller>;
    const upload = (file: string): Promise<MediaFile> => t.app.media.ingest(createReadStream(file), { originalName: path.basename(file), contentType: "audio/wav" });

    before(async () => {
      t = await startTestApp(provider, { PARALLEL: "2" });
      files = await makeTempDir();
      caller = createCaller({ app: t.app, principal: OPERATOR });
    });
    after(async () => {
      await t.close();
      await files.cleanup();
    });

    it("creates a job, gets it, and serves its transcript in every format", async () => {
      const media = await upload(clips[1]!.path);
      const job = await caller.jobs.create({ mediaFileId: media.id, language: "en-US" });
      assert.equal(job.type, "transcribe");
      assert.equal(job.language, "en");
      const done = await waitFor(async () => {
        const { job: current } = await caller.jobs.get({ id: job.id });
        return current.status === "DONE" || current.status === "FAILED" ? current : undefined;
      });
      assert.equal(done.status, "DONE");
      assert.ok(done.finishedAt instanceof Date, "dates survive the transport as Dates");
      for (const format of ["txt", "srt", "vtt", "json", "json-v2"] as const) {
        const transcript = await caller.jobs.transcript({ id: job.id, format });
        assert.ok(transcript.body.length > 0, format);
      }
      const json = JSON.parse((await caller.jobs.transcript({ id: job.id, format: "json" })).body) as { segments: { words: unknown[] }[] };
      assert.ok(json.segments[0]!.words.length > 0);
      const log = await caller.jobs.log({ id: job.id });
      assert.ok(log.some((line) => line.message === "Done"));
    });

    it("runs a batch, aggregates its children, and retries only the failed ones", async () => {
      const silent = await makeAudio([{ kind: "silence", durationS: 3 }], { dir: files.dir, name: `silent-${provider}.wav` });
      const media = [await upload(clips[2]!.path), await upload(silent), await upload(clips[3]!.path)];
      const batch = await caller.jobs.createBatch({ mediaFileIds: media.map((m) => m.id), type: "batch_transcribe", language: "en" });
      assert.equal(batch.type, "batch_transcribe");
      assert.equal(batch.status, "RUNNING");

      const settled = await waitFor(async () => {
        const result = await caller.jobs.get({ id: batch.id });
        return result.job.status !== "RUNNING" ? result : undefined;
      });
      assert.equal(settled.job.status, "FAILED");
      assert.equal(settled.job.failureReason, "1 of 3 files failed");
      assert.equal(settled.job.progress, 1);
      assert.deepEqual({ ...settled.batch, childIds: undefined }, { total: 3, done: 2, failed: 1, cancelled: 0, queued: 0, running: 0, childIds: undefined });
      assert.deepEqual(settled.job.result, { total: 3, done: 2, failed: 1, cancelled: 0, childIds: settled.batch!.childIds });

      const children = await caller.jobs.list({ parentId: batch.id, limit: 10 });
      assert.equal(children.jobs.length, 3);
      assert.deepEqual(children.jobs.map((child) => child.id), [...settled.batch!.childIds].reverse(), "newest first by default");
      // Oldest first is the order the files were given, page by page.
      const firstTwo = await caller.jobs.list({ parentId: batch.id, limit: 2, order: "oldest" });
      const rest = await caller.jobs.list({ parentId: batch.id, limit: 2, order: "oldest", cursor: firstTwo.nextCursor! });
      assert.deepEqual([...firstTwo.jobs, ...rest.jobs].map((child) => child.media?.id), media.map((m) => m.id));
      assert.equal(rest.nextCursor, null);
      const failedChild = children.jobs.find((child) => child.status === "FAILED")!;
      const doneBefore = children.jobs.filter((child) => child.status === "DONE").map((child) => [child.id, child.finishedAt?.getTime()]);

      const retried = await caller.jobs.retry({ id: batch.id });
      assert.equal(retried.status, "RUNNING");
      const again = await waitFor(async () => {
        const result = await caller.jobs.get({ id: batch.id });
        return result.job.status !== "RUNNING" ? result : undefined;
      });
      assert.equal(again.batch!.failed, 1, "the silent file fails again");
      const { job: retriedChild } = await caller.jobs.get({ id: failedChild.id });
      assert.equal(retriedChild.attempts, 1, "the failed child ran again from a fresh attempt count");
      const childrenAfter = await caller.jobs.list({ parentId: batch.id, limit: 10 });
      const doneAfter = childrenAfter.jobs.filter((child) => child.status === "DONE").map((child) => [child.id, child.finishedAt?.getTime()]);
      assert.deepEqual(doneAfter.sort(), doneBefore.sort(), "DONE children were not re-run");
    });

    it("lists with filters and cursor pagination", async () => {
      const all = await caller.jobs.list({ limit: 100 });
      assert.ok(all.jobs.every((job) => job.parentId === null), "top-level jobs by default");
      const page1 = await caller.jobs.list({ limit: 1 });
      assert.equal(page1.jobs.length, 1);
      assert.ok(page1.nextCursor);
      const page2 = await caller.jobs.list({ limit: 1, cursor: page1.nextCursor });
      assert.notEqual(page2.jobs[0]!.id, page1.jobs[0]!.id);
      const batches = await caller.jobs.list({ type: ["batch_transcribe"], limit: 10 });
      assert.ok(batches.jobs.length >= 1 && batches.jobs.every((job) => job.type === "batch_transcribe"));
      const failed = await caller.jobs.list({ status: ["FAILED"], limit: 10 });
      assert.ok(failed.jobs.length >= 1 && failed.jobs.every((job) => job.status === "FAILED"));
      const future = await caller.jobs.list({ createdAfter: new Date(Date.now() + 60_000), limit: 10 });
      assert.equal(future.jobs.length, 0);
    });

    it("cancels a queued job and refuses to cancel a finished one", async () => {
      // Two engine-hungry jobs: the second must wait, so it can be cancelled while queued.
      const first = await caller.jobs.create({ mediaFileId: (await upload(clips[0]!.path)).id, parallelEngines: 2 });
      const second = await caller.jobs.create({ mediaFileId: (await upload(clips[4]!.path)).id, parallelEngines: 2 });
      assert.equal(second.status, "QUEUED");
      const cancelled = await caller.jobs.cancel({ id: second.id });
      assert.equal(cancelled.status, "CANCELLED");
      await waitFor(async () => ((await caller.jobs.get({ id: first.id })).job.status === "DONE" ? true : undefined));
      await assert.rejects(caller.jobs.cancel({ id: first.id }), (error: unknown) => error instanceof TRPCError && error.code === "CONFLICT");
      const { job } = await caller.jobs.get({ id: second.id });
      assert.equal(job.status, "CANCELLED", "a cancelled job never runs");
      assert.equal(job.attempts, 0);
    });

    it("maps errors to tRPC codes with clear messages", async () => {
      await assert.rejects(caller.jobs.get({ id: "nope" }), (error: unknown) => error instanceof TRPCError && error.code === "NOT_FOUND" && error.message === "Job not found: nope");
      await assert.rejects(caller.jobs.create({ mediaFileId: "missing" }), (error: unknown) => error instanceof TRPCError && error.code === "NOT_FOUND");
      const media = await upload(clips[0]!.path);
      await assert.rejects(caller.jobs.create({ mediaFileId: media.id, language: "klingon" }), (error: unknown) => error instanceof TRPCError && error.code === "BAD_REQUEST");
      await assert.rejects(caller.jobs.create({ mediaFileId: media.id, parallelEngines: 9 }), (error: unknown) => error instanceof TRPCError && error.code === "BAD_REQUEST" && /exceeds the 2 engines/.test(error.message));
    });
  });
}
