/** Multipart request bodies of the upload routes, built in memory for the benchmarks. */
import type { RequestSpec } from "./http-client";

const BOUNDARY = "----transcribe-bench";
const JOB_CONFIG = JSON.stringify({ type: "transcription", transcription_config: { language: "en" } });
const PROCESSING_DATA = JSON.stringify({ parallel_engines: 1 });

type FilePart = { field: string; fileName: string; contentType: string; bytes: Buffer };

/** multipart/form-data: the text fields first, then the one file part. */
function multipartBody(fields: Readonly<Record<string, string>>, file: FilePart): Buffer {
  const head =
    Object.entries(fields)
      .map(([name, value]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
      .join("") +
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.fileName}"\r\nContent-Type: ${file.contentType}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), file.bytes, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
}

const MULTIPART_HEADERS = { "content-type": `multipart/form-data; boundary=${BOUNDARY}` };

/** POST /v2/jobs: the config field, then the media as data_file; the job starts at once or 503. */
export function v2JobRequest(fileName: string, media: Buffer): RequestSpec {
  return {
    method: "POST",
    path: "/v2/jobs",
    headers: { ...MULTIPART_HEADERS, "x-sm-processing-data": PROCESSING_DATA },
    body: multipartBody({ config: JOB_CONFIG }, { field: "data_file", fileName, contentType: "audio/wav", bytes: media }),
  };
}

/** POST /transcribe-batch-async: the media as file; the job is queued. */
export function queuedJobRequest(fileName: string, media: Buffer): RequestSpec {
  return {
    method: "POST",
    path: "/transcribe-batch-async",
    headers: MULTIPART_HEADERS,
    body: multipartBody({ language_code: "en-US" }, { field: "file", fileName, contentType: "audio/wav", bytes: media }),
  };
}

/** POST /api/uploads: the media as file; stored as a media file, no job. */
export function mediaUploadRequest(fileName: string, media: Buffer): RequestSpec {
  return {
    method: "POST",
    path: "/api/uploads",
    headers: MULTIPART_HEADERS,
    body: multipartBody({}, { field: "file", fileName, contentType: "audio/wav", bytes: media }),
  };
}
