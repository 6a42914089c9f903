import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createLogger } from "../../src/server/logger";
import { createFilesystemBlobStore } from "../../src/server/storage/filesystem-blob-store";
import { EnginePool } from "../../src/worker/engine-pool";
import { startTaskLoops } from "../../src/worker/sqs-task-loop";
import { createEngineFactory } from "../../bench/instant-engine";
import { startScaleOutInfra, type ScaleOutInfra } from "../helpers/fauxqs";
import { makeTempDir, type TempDir } from "../helpers/fixtures";
import { waitFor } from "../helpers/wait-for";

describe("a worker with many receive loops", () => {
  let infra: ScaleOutInfra;
  let temp: TempDir;
  let sqs: SQSClient;

  before(async () => {
    infra = await startScaleOutInfra({ maxReceiveCount: 3, visibilityTimeoutS: 30 });
    temp = await makeTempDir("receive-loops-");
    sqs = new SQSClient({ endpoint: infra.endpoint, region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
  });
  after(async () => {
    sqs?.destroy();
    await infra?.stop();
    await temp?.cleanup();
  });

  it("polls with 16 loops at once without Node's listener-leak warning", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on("warning", onWarning);
    const pool = new EnginePool(1, createEngineFactory());
    const polls = { count: 0 };
    // Counts the receives the loops send, so the test waits until every loop polled a few times.
    sqs.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === "ReceiveMessageCommand") polls.count += 1;
      return next(args);
    }, { step: "initialize", name: "countReceives" });
    const loops = startTaskLoops({
      sqs,
      blobs: createFilesystemBlobStore(temp.file("blobs")),
      pool,
      logger: createLogger("silent"),
      tasksQueueUrl: infra.tasksQueueUrl,
      resultsQueueUrl: infra.resultsQueueUrl,
      loops: 16,
      visibilityTimeoutS: 30,
      waitTimeSeconds: 0,
      workDir: path.join(temp.dir, "work"),
    });
    try {
      await waitFor("every loop to poll a few times", 30_000, () => (polls.count >= 64 ? true : undefined));
    } finally {
      await loops.stop(1000);
      await pool.close();
      process.off("warning", onWarning);
    }
    assert.deepEqual(warnings.filter((warning) => warning.startsWith("MaxListenersExceededWarning")), []);
  });
});
