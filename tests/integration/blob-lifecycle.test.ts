import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { convertOptionsSchema } from "../../src/server/media/convert-options";
import { startTestApp, type TestApp } from "../helpers/test-app";
import { toneWav } from "../helpers/wav";

/**
 * Blobs are shared by every media row with the same bytes; the only thing that deletes one
 * is the sweep of unreferenced blobs, after a grace period. An upload that is refused (or a
 * job that is deleted) must never take away the bytes an identical upload just stored.
 */
describe("blob lifecycle", () => {
  let t: TestApp;
  const bytes = toneWav({ durationS: 1, frequencyHz: 523 });

  before(async () => {
    t = await startTestApp("sqlite", { ASR_ENGINE_MODULE: path.resolve("bench/instant-engine.ts") });
  });
  after(async () => {
    await t?.close();
  });

  const submit = (config: string) => {
    const form = new FormData();
    form.append("data_file", new Blob([new Uint8Array(bytes)], { type: "audio/wav" }), "same.wav");
    form.append("config", config);
    return fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: form });
  };

  it("keeps the bytes of an upload whose row is being written while an identical upload is refused", async () => {
    // The race, in the order that lost media: an upload has stored its bytes and not yet
    // written its row, and an identical upload is refused (its config is not JSON) meanwhile.
    const staged = await t.app.media.stage(Readable.from([bytes]), { originalName: "same.wav", contentType: null });
    const refused = await submit("{ not json");
    assert.equal(refused.status, 400);
    const media = await t.app.media.record(staged);
    const served = await fetch(`${t.baseUrl}/api/media/${media.id}/content`);
    assert.equal(served.status, 200);
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(bytes));
  });

  it("deletes a blob only once no row references it and it is older than the grace period", async () => {
    const referenced = await t.app.media.ingest(Readable.from([toneWav({ durationS: 1, frequencyHz: 330 })]), { originalName: "kept.wav", contentType: null });
    // The first test's uploads: rows no job uses, deleted as a job's deletion would.
    const shared = await t.app.database.prisma.mediaFile.findMany({ where: { sha256: { not: referenced.sha256 } }, select: { id: true } });
    await t.app.media.deleteOrphans(shared.map((row) => row.id));
    const sharedKey = (await t.app.media.stage(Readable.from([bytes]), { originalName: "x.wav", contentType: null })).media.blobKey;
    const blobFile = path.join(t.dataDir, "blobs", sharedKey);

    // Within the grace period nothing goes, referenced or not.
    assert.equal(await t.app.media.sweepUnreferencedBlobs(new Date(Date.now() - 3600_000)), 0);
    await fs.access(blobFile);
    // Past it, the unreferenced blob goes and the referenced one stays.
    assert.equal(await t.app.media.sweepUnreferencedBlobs(new Date(Date.now() + 60_000)), 1);
    await assert.rejects(fs.access(blobFile));
    await fs.access(path.join(t.dataDir, "blobs", referenced.blobKey));
    assert.equal((await fetch(`${t.baseUrl}/api/media/${referenced.id}/content`)).status, 200);
  });

  it("renews an existing blob's age when identical bytes are stored again", async () => {
    const staged = await t.app.media.stage(Readable.from([bytes]), { originalName: "y.wav", contentType: null });
    const file = path.join(t.dataDir, "blobs", staged.media.blobKey);
    const old = new Date(Date.now() - 2 * 3600_000);
    await fs.utimes(file, old, old);
    await t.app.media.stage(Readable.from([bytes]), { originalName: "z.wav", contentType: null });
    assert.ok((await fs.stat(file)).mtime > old);
    assert.equal(await t.app.media.sweepUnreferencedBlobs(new Date(Date.now() - 3600_000)), 0);
  });

  it("fails a job whose blob is gone with a reason that names no path on the server", async () => {
    const media = await t.app.media.ingest(Readable.from([toneWav({ durationS: 1, frequencyHz: 880 })]), { originalName: "gone.wav", contentType: null });
    await fs.rm(path.join(t.dataDir, "blobs", media.blobKey));
    const job = await t.app.jobs.createConvert({ mediaFileId: media.id, options: convertOptionsSchema.parse({ format: "mp3" }), origin: "test" });
    const settled = await t.app.jobs.waitForSettled(job.id, 60_000);
    assert.equal(settled.status, "FAILED");
    assert.match(settled.failureReason ?? "", /missing from the blob store/);
    assert.ok(!(settled.failureReason ?? "").includes(t.dataDir), settled.failureReason ?? "");
    assert.equal(settled.attempts, 1, "a missing blob is not retried");
  });

  it("takes an SRT of 200,000 cues (its length is found without spreading them into Math.max)", async () => {
    const time = (ms: number) => new Date(ms).toISOString().slice(11, 23).replace(".", ",");
    const srt = Array.from({ length: 200_000 }, (_, i) => `${i + 1}\n${time(i * 100)} --> ${time(i * 100 + 90)}\nline ${i}\n`).join("\n");
    const form = new FormData();
    form.append("file", new Blob([srt], { type: "application/x-subrip" }), "long.srt");
    const response = await fetch(`${t.baseUrl}/api/uploads`, { method: "POST", body: form });
    assert.equal(response.status, 201, await response.clone().text());
    const { media } = (await response.json()) as { media: { durationS: number } };
    assert.equal(media.durationS, 19_999.99);
  });
});
