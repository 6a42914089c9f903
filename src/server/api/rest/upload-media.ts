import type { IncomingMessage } from "node:http";
import type { MediaFile } from "../../db/models";
import type { App } from "../../app";
import { AppError } from "../../errors";
import { receiveMultipart, type MultipartResult } from "../../http/multipart";

/**
 * Receives a multipart request whose media part is one of `fileFields`, storing the media
 * as it streams in. The caller owns the media afterwards; `discard` removes it again if
 * the request is rejected after the upload.
 */
export async function receiveMediaUpload(
  app: App,
  req: IncomingMessage,
  fileFields: readonly string[],
): Promise<MultipartResult<MediaFile> & { discard(): Promise<void> }> {
  const received = await receiveMultipart<MediaFile>(req, {
    fileFields,
    storeFile: (stream, info) => app.media.ingest(stream, { originalName: info.filename, contentType: info.mimeType || null }),
    discardFile: (media) => app.media.deleteOrphans([media.id]),
  });
  return {
    ...received,
    discard: async () => {
      if (received.file) await app.media.deleteOrphans([received.file.stored.id]);
    },
  };
}

/** Parses a JSON text field, naming the field in the 400 when it is not JSON. */
export function parseJsonField(name: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError("BAD_REQUEST", `Form field "${name}" is not valid JSON: ${(error as Error).message}`);
  }
}
