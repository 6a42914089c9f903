import type { IncomingMessage } from "node:http";
import type { App } from "../../app";
import type { StagedMedia } from "../../services/media-service";
import { parseBoundedJson } from "../../http/bounded-json";
import { receiveMultipart, type MultipartResult } from "../../http/multipart";

/**
 * Receives a multipart request whose media part is one of `fileFields`, storing and
 * probing the media as it streams in. Its row is not written: the caller records it (with
 * the job that uses it, or on its own), or calls `discard` if the request is rejected.
 */
export async function receiveMediaUpload(
  app: App,
  req: IncomingMessage,
  fileFields: readonly string[],
): Promise<MultipartResult<StagedMedia> & { discard(): Promise<void> }> {
  const received = await receiveMultipart<StagedMedia>(req, {
    fileFields,
    storeFile: (stream, info) => app.media.stage(stream, { originalName: info.filename, contentType: info.mimeType || null }, info.signal),
    discardFile: (staged) => app.media.discardStaged(staged),
  });
  return {
    ...received,
    discard: async () => {
      if (received.file) await app.media.discardStaged(received.file.stored);
    },
  };
}

/** Parses a job's `config` form field (JSON, at most MAX_CONFIG_BYTES, bounded depth). */
export function parseConfigField(app: App, text: string): unknown {
  return parseBoundedJson("config", text, { maxBytes: app.config.maxConfigBytes, limitName: "MAX_CONFIG_BYTES" });
}
