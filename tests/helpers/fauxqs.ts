import { startFauxqs, type FauxqsServer } from "fauxqs";

export type ScaleOutInfra = {
  server: FauxqsServer;
  endpoint: string;
  tasksQueueUrl: string;
  resultsQueueUrl: string;
  dlqUrl: string;
  bucket: string;
  /** What the control plane and the workers need to reach it (credentials are fauxqs's dummies). */
  awsEnv: Record<string, string>;
  /** A control plane's environment for this infrastructure: SQS transport, S3 blobs. */
  controlPlaneEnv: Record<string, string>;
  stop(): Promise<void>;
};

/**
 * A real SQS- and S3-compatible server (fauxqs) on loopback with the queues and bucket of a
 * deployment: tasks (redriving to a DLQ after `maxReceiveCount` deliveries), results, DLQ.
 */
export async function startScaleOutInfra(opts: { maxReceiveCount: number; visibilityTimeoutS: number }): Promise<ScaleOutInfra> {
  const server = await startFauxqs({ port: 0, host: "127.0.0.1", logger: false });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const dlq = server.createQueue("transcribe-tasks-dlq");
  const tasks = server.createQueue("transcribe-tasks", {
    attributes: {
      VisibilityTimeout: String(opts.visibilityTimeoutS),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: String(opts.maxReceiveCount) }),
    },
  });
  const results = server.createQueue("transcribe-results");
  const bucket = "transcribe-media";
  server.createBucket(bucket);
  const awsEnv = { AWS_ENDPOINT_URL: endpoint, AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", S3_FORCE_PATH_STYLE: "true" };
  return {
    server,
    endpoint,
    tasksQueueUrl: tasks.queueUrl,
    resultsQueueUrl: results.queueUrl,
    dlqUrl: dlq.queueUrl,
    bucket,
    awsEnv,
    controlPlaneEnv: {
      ...awsEnv,
      TRANSPORT: "sqs",
      SQS_TASKS_QUEUE_URL: tasks.queueUrl,
      SQS_RESULTS_QUEUE_URL: results.queueUrl,
      SQS_DLQ_URL: dlq.queueUrl,
      BLOB_STORE: "s3",
      S3_BUCKET: bucket,
    },
    stop: () => server.stop(),
  };
}
