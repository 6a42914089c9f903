import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import busboy from "busboy";
import { AppError } from "../errors";

export type ReceivedFile<T> = { fieldName: string; filename: string; stored: T };

export type MultipartResult<T> = {
  /** Each text field's last value. */
  fields: Record<string, string>;
  /** Every value of each text field, in order: repeated fields such as OpenAI's `timestamp_granularities[]`. */
  fieldValues: Record<string, string[]>;
  file: ReceivedFile<T> | null;
};

export type MultipartOptions<T> = {
  /** Names accepted for the one file part, e.g. ["data_file"]. */
  fileFields: readonly string[];
  /**
   * Consumes the file stream (to the blob store); must read it to the end or reject. `signal`
   * aborts when the client goes away mid-body: the store must then stop and keep nothing.
   */
  storeFile(stream: Readable, info: { filename: string; mimeType: string; signal: AbortSignal }): Promise<T>;
};

/** bytes: config JSON and other text fields are small; anything larger is a malformed request. */
const MAX_FIELD_BYTES = 1024 * 1024;

/**
 * Streams a multipart/form-data request: the file part goes straight to `storeFile` as it
 * arrives (never buffered whole in memory), text fields are collected. Rejects with a
 * 4xx AppError on malformed bodies, a second file, or an oversized field.
 */
export function receiveMultipart<T>(req: IncomingMessage, options: MultipartOptions<T>): Promise<MultipartResult<T>> {
  const contentType = req.headers["content-type"] ?? "";
  if (!/^multipart\/form-data/i.test(contentType)) {
    return Promise.reject(new AppError("BAD_REQUEST", "Expected a multipart/form-data body"));
  }
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      // Part names are UTF-8 (what browsers, curl and the SDKs send), not busboy's latin1 default.
      parser = busboy({ headers: req.headers, defParamCharset: "utf8", limits: { fieldSize: MAX_FIELD_BYTES, files: 4, fields: 64 } });
    } catch {
      reject(new AppError("BAD_REQUEST", "Malformed multipart/form-data request"));
      return;
    }
    const fields: Record<string, string> = {};
    // No prototype: a part named "__proto__" is then an ordinary key, not Object.prototype.
    const fieldValues: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
    // Aborted when the client disconnects before the body ended: the file part's stream would
    // otherwise wait forever for bytes that never come, holding its temp file open.
    const disconnected = new AbortController();
    let filePromise: Promise<ReceivedFile<T>> | null = null;
    let failure: unknown = null;
    let settled = false;

    const fail = (error: unknown) => {
      failure ??= error;
    };
    const finish = async () => {
      if (settled) return;
      settled = true;
      const file = filePromise ? await filePromise.catch((error: unknown) => (fail(error), null)) : null;
      if (failure) {
        reject(failure);
      } else {
        resolve({ fields, fieldValues, file });
      }
    };

    parser.on("field", (name, value, info) => {
      if (info.valueTruncated) fail(new AppError("BAD_REQUEST", `Form field "${name}" is larger than ${MAX_FIELD_BYTES} bytes`));
      fields[name] = value;
      (fieldValues[name] ??= []).push(value);
    });
    parser.on("file", (name, stream, info) => {
      if (!options.fileFields.includes(name)) {
        stream.resume();
        fail(new AppError("BAD_REQUEST", `Unexpected file field "${name}"; send the media as ${options.fileFields.map((f) => `"${f}"`).join(" or ")}`));
        return;
      }
      if (filePromise) {
        stream.resume();
        fail(new AppError("BAD_REQUEST", "Only one file may be uploaded per job"));
        return;
      }
      const filename = info.filename ?? "upload";
      filePromise = options.storeFile(stream, { filename, mimeType: info.mimeType, signal: disconnected.signal }).then((stored) => ({ fieldName: name, filename, stored }));
      // The store stops reading early on error (size limit). A destroyed part would stall the
      // parser, so stop parsing, discard the rest of the body and answer with the error.
      filePromise.catch((error: unknown) => {
        fail(error);
        req.unpipe(parser);
        void drainRequest(req).then(finish);
      });
    });
    parser.on("filesLimit", () => fail(new AppError("BAD_REQUEST", "Too many files in one request")));
    parser.on("error", () => {
      fail(new AppError("BAD_REQUEST", "Malformed multipart/form-data request"));
      req.unpipe(parser);
      req.resume();
      void finish();
    });
    parser.on("close", () => void finish());
    const onClose = () => {
      if (req.complete) return;
      fail(new AppError("BAD_REQUEST", "The upload was interrupted"));
      disconnected.abort(new AppError("BAD_REQUEST", "The upload was interrupted"));
      req.unpipe(parser);
      parser.destroy();
      void finish();
    };
    req.once("close", onClose);
    req.pipe(parser);
  });
}

/**
 * Reads and discards what is left of a request body (bounded), so that an error response
 * sent before the upload finished reaches clients that only read after sending.
 */
export function drainRequest(req: IncomingMessage, maxBytes = 256 * 1024 * 1024): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) {
        req.off("data", onData);
        req.destroy();
        resolve();
      }
    };
    req.on("data", onData);
    req.once("end", () => resolve());
    req.once("close", () => resolve());
    req.resume();
  });
}
