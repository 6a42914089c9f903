import type { IncomingMessage } from "node:http";
import type { App } from "../../app";
import type { StagedMedia } from "../../services/media-service";
import { AppError } from "../../errors";
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
    storeFile: (stream, info) => app.media.stage(stream, { originalName: info.filename, contentType: info.mimeType || null }),
    discardFile: (staged) => app.media.discardStaged(staged),
  });
  return {
    ...received,
    discard: async () => {
      if (received.file) await app.media.discardStaged(received.file.stored);
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
