import type { Engine } from "../server/asr/engine";
import type { BlobStore } from "../server/storage/blob-store";

/** What a task runs with, wherever it runs (the embedded lanes or a gpu-worker). */
export type TaskRuntime = {
  blobs: BlobStore;
  /** The engine slots leased for a transcription (as many as task.engines); none for a conversion. */
  engines: Engine[];
  signal: AbortSignal;
  onProgress?: (fraction: number) => void;
  /** Local scratch space (conversion outputs before they go to the blob store). */
  workDir: string;
};
