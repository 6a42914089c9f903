import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { BlobTooLargeError, type BlobStore } from "../../src/server/storage/blob-store";
import { createS3BlobStore } from "../../src/server/storage/s3-blob-store";
import { startScaleOutInfra, type ScaleOutInfra } from "../helpers/fauxqs";
import { makeTempDir, type TempDir } from "../helpers/fixtures";

describe("S3 blob store (fauxqs S3, path-style)", () => {
  let infra: ScaleOutInfra;
  let temp: TempDir;
  let s3: S3Client;
  let store: BlobStore;
  const keys = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: infra.bucket, Prefix: "team-a/" }))).Contents ?? []).map((object) => object.Key!);

  before(async () => {
    infra = await startScaleOutInfra({ maxReceiveCount: 3, visibilityTimeoutS: 30 });
    temp = await makeTempDir("s3-store-");
    s3 = new S3Client({ endpoint: infra.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
    store = createS3BlobStore({ client: s3, bucket: infra.bucket, prefix: "team-a/", workDir: temp.file("control-plane") });
  });
  after(async () => {
    await infra.stop();
    await temp.cleanup();
  });

  it("stores a blob once under its content key and serves it to another machine's store", async () => {
    const bytes = Buffer.from("RIFF fake media bytes ".repeat(1000));
    const first = await store.put(Readable.from([bytes]), { maxBytes: 1e6 });
    const second = await store.put(Readable.from([bytes]), { maxBytes: 1e6 });
    assert.equal(first.key, second.key);
    assert.match(first.key, /^sha256\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
    assert.deepEqual(await keys(), [`team-a/${first.key}`]);
    // The second put copied the object onto itself (no second upload), renewing its age for the unreferenced-blob sweep.
    const listed = [];
    for await (const blob of store.listContent()) listed.push(blob);
    assert.deepEqual(listed.map((blob) => blob.key), [first.key]);
    assert.ok((await store.modifiedAt(first.key)) instanceof Date);
    assert.equal(store.uri(first.key), `s3://${infra.bucket}/team-a/${first.key}`);
    // A worker's store: an empty cache, so it downloads.
    const worker = createS3BlobStore({ client: s3, bucket: infra.bucket, prefix: "team-a/", workDir: temp.file("worker") });
    const [a, b] = await Promise.all([worker.localPath(first.key), worker.localPath(first.key)]);
    assert.equal(a, b, "concurrent requests share one download");
    assert.deepEqual(await fs.readFile(a), bytes);
  });

  it("refuses an upload over the limit and keeps nothing, locally or in the bucket", async () => {
    const before = await keys();
    await assert.rejects(store.put(Readable.from([Buffer.alloc(5000, 1)]), { maxBytes: 4000 }), BlobTooLargeError);
    assert.deepEqual(await keys(), before);
    assert.deepEqual(await fs.readdir(temp.file("control-plane/staging")), []);
  });

  it("deletes blobs, reports existence, and round-trips named output objects", async () => {
    const stored = await store.put(Readable.from([Buffer.from("to be deleted")]), { maxBytes: 100 });
    assert.equal(await store.exists(stored.key), true);
    await store.delete(stored.key);
    assert.equal(await store.exists(stored.key), false);
    await store.putObject("outputs/job-1/1.segments.json", Buffer.from('[{"text":"hi"}]'));
    assert.equal((await store.getObject("outputs/job-1/1.segments.json")).toString(), '[{"text":"hi"}]');
    await assert.rejects(store.putObject("../escape", Buffer.from("x")), /Invalid object key/);
    await assert.rejects(store.localPath(`sha256/00/00/${"0".repeat(64)}`), /is missing from the blob store/);
  });
});
