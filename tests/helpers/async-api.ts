import assert from "node:assert/strict";
import { openAsBlob } from "node:fs";
import path from "node:path";

/** A job as the async API (seed 001) lists it. */
export type AsyncJob = { job_name: string; status: string; failure_reason?: string };

/** Queues one file through POST /transcribe-batch-async (English) and returns its job name. */
export async function submitAsyncJob(baseUrl: string, file: string): Promise<string> {
  const form = new FormData();
  form.append("file", await openAsBlob(file), path.basename(file));
  form.append("language_code", "en-US");
  const response = await fetch(`${baseUrl}/transcribe-batch-async`, { method: "POST", body: form });
  assert.equal(response.status, 201);
  return ((await response.json()) as AsyncJob).job_name;
}
