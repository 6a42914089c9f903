import type { IncomingMessage } from "node:http";
import type { App } from "../../app";
import type { StagedMedia } from "../../services/media-service";
import { parseBoundedJson } from "../../http/bounded-json";
import { receiveMultipart, type MultipartResult } from "../../http/multipart";

/**
 * Receives a multipart request whose media part is one of `fileFields`, storing and
 * probing the media as it streams in, owned by `owner` (a userId; null: unowned). Its row is not written: the caller records it (with
 * the job that uses it, or on its own). A request rejected after that leaves nothing to undo:
 * the stored blob, referenced by no row, goes with the unreferenced-blob sweep.
 */
export function receiveMediaUpload(app: App, req: IncomingMessage, fileFields: readonly string[], owner: string | null): Promise<MultipartResult<StagedMedia>> {
  return receiveMultipart<StagedMedia>(req, {
    fileFields,
    storeFile: (stream, info) => app.media.stage(stream, { originalName: info.filename, contentType: info.mimeType || null, userId: owner }, info.signal),
  });
}

/** Parses a job's `config` form field (JSON, at most MAX_CONFIG_BYTES, bounded depth). */
export function parseConfigField(app: App, text: string): unknown {
  return parseBoundedJson("config", text, { maxBytes: app.config.maxConfigBytes, limitName: "MAX_CONFIG_BYTES" });
}
