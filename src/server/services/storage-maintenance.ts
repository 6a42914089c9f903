import { describeError } from "../errors";
import type { Logger } from "../logger";
import type { BlobStore } from "../storage/blob-store";
import type { MediaService } from "./media-service";

export type StorageMaintenanceOptions = {
  /** ms: a temp file younger than this may belong to an upload still arriving (HTTP_REQUEST_TIMEOUT_MS). */
  tempMaxAgeMs: number;
  /** ms an unreferenced blob is kept (UNREFERENCED_BLOB_GRACE_MS). */
  blobGraceMs: number;
  /** ms between sweeps. */
  intervalMs: number;
};

/**
 * Keeps the blob store from filling with what nothing references: leftovers of interrupted
 * uploads (swept at start and then periodically) and blobs no media row uses any more
 * (deleted jobs, refused uploads). Every replica may run it: deleting an unreferenced blob
 * twice is harmless.
 */
export class StorageMaintenance {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly blobs: BlobStore,
    private readonly media: MediaService,
    private readonly logger: Logger,
    private readonly options: StorageMaintenanceOptions,
  ) {}

  /**
   * Removes partial uploads now (awaited: a restart after a SIGKILL frees their space before
   * serving), then sweeps in the background, first at once and then every `intervalMs`. The
   * unreferenced-blob sweep lists the whole store, so start-up does not wait for it.
   */
  async start(): Promise<void> {
    await this.sweep({ temp: true, blobs: false });
    void this.sweep({ temp: false, blobs: true });
    this.timer = setInterval(() => void this.sweepNow(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One sweep of temp files and unreferenced blobs; failures are logged, never thrown. */
  sweepNow(): Promise<void> {
    return this.sweep({ temp: true, blobs: true });
  }

  private sweep(what: { temp: boolean; blobs: boolean }): Promise<void> {
    this.running = this.running.then(async () => {
      try {
        const now = Date.now();
        const temp = what.temp ? await this.blobs.sweepTemp(new Date(now - this.options.tempMaxAgeMs)) : 0;
        const blobs = what.blobs ? await this.media.sweepUnreferencedBlobs(new Date(now - this.options.blobGraceMs)) : 0;
        if (temp || blobs) this.logger.info("storage swept", { partialUploads: temp, unreferencedBlobs: blobs });
      } catch (error) {
        this.logger.warn("storage sweep failed; the next one retries", { error: describeError(error) });
      }
    });
    return this.running;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
