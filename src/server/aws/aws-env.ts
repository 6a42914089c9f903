import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { booleanString } from "../env-types";

/**
 * Where SQS and S3 are. Credentials come from the SDK's default chain (environment,
 * instance or task role), never from here. An endpoint points both clients at an
 * SQS/S3-compatible server (fauxqs in the tests).
 */
export const awsEnvSchema = z.object({
  AWS_REGION: z.string().min(1).default("us-east-1"),
  AWS_ENDPOINT_URL: z.url().optional(),
  /** Path-style S3 URLs (http://host/bucket/key), which local S3 servers need. */
  S3_FORCE_PATH_STYLE: booleanString.default(false),
});

/**
 * An SQS queue URL. Not z.url(): local servers name queues like
 * http://sqs.us-east-1.127.0.0.1:4566/000000000000/tasks, which WHATWG URL parsing rejects,
 * and the SDK only passes the URL through.
 */
export const queueUrlSchema = z.string().regex(/^https?:\/\/\S+\/[^/\s]+$/, "must be an SQS queue URL (http(s)://host/account/name)");

export type AwsConfig = { region: string; endpoint: string | undefined; forcePathStyle: boolean };

export function awsConfigFrom(e: z.infer<typeof awsEnvSchema>): AwsConfig {
  return { region: e.AWS_REGION, endpoint: e.AWS_ENDPOINT_URL, forcePathStyle: e.S3_FORCE_PATH_STYLE };
}

export function createAwsClients(config: AwsConfig): { sqs: SQSClient; s3: S3Client } {
  const common = { region: config.region, ...(config.endpoint ? { endpoint: config.endpoint } : {}) };
  return { sqs: new SQSClient(common), s3: new S3Client({ ...common, forcePathStyle: config.forcePathStyle }) };
}
