import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { z } from "zod";
import { authHeaders, NetworkError, type Connection } from "./connection";

const uploadReplySchema = z.object({ media: z.object({ id: z.string(), durationS: z.number().nullable(), format: z.string().nullable() }) });
const errorReplySchema = z.object({ detail: z.string().optional(), error: z.string().optional(), message: z.string().optional() }).passthrough();

/** The upload was refused by the server (a 4xx): retrying cannot help. */
export class UploadRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UploadRefusedError";
  }
}

/**
 * The upload was stopped (Ctrl-C) before its whole body was sent: the server saw the request
 * cut short and keeps nothing of it, so the file is simply uploaded again next time.
 */
export class UploadInterruptedError extends Error {
  constructor(file: string) {
    super(`upload of ${path.basename(file)} interrupted before it was complete; the server keeps nothing of it`);
    this.name = "UploadInterruptedError";
  }
}

export type UploadOptions = {
  /** Bytes of the file sent so far, and its size (bytes). */
  onBytes?: (sent: number, total: number) => void;
  /**
   * Stops the upload if its body is not all sent yet. Once it is, the server may already be
   * recording the media row, so the reply is awaited instead: the caller must learn the id,
   * or a re-run would upload the file again and leave a second row.
   */
  signal?: AbortSignal;
};

/**
 * Streams one file to POST /api/uploads as multipart/form-data, reporting bytes sent, so a
 * large video never sits in memory and the caller can draw a progress bar.
 */
export async function uploadFile(connection: Connection, file: string, options: UploadOptions = {}): Promise<{ id: string }> {
  const { onBytes, signal } = options;
  if (signal?.aborted) throw new UploadInterruptedError(file);
  const total = (await fs.stat(file)).size;
  const boundary = `----transcribe-cli-${randomBytes(12).toString("hex")}`;
  const name = path.basename(file).replace(/["\r\n]/g, "_");
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL("/api/uploads", connection.server);
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    // Set once the closing boundary is handed to the socket. Before that the server cannot
    // have a complete body, so destroying the request makes it discard the upload; after it,
    // the server may have the whole file and be writing its row, so we wait for the reply.
    let bodyComplete = false;
    // The first of these to settle the promise wins; the errors that destroying causes are moot.
    const onAbort = () => {
      if (bodyComplete) return;
      stream.destroy();
      request.destroy();
      reject(new UploadInterruptedError(file));
    };
    const request = client.request(
      url,
      { method: "POST", headers: { ...authHeaders(connection), "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": head.length + total + tail.length } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", (error) => reject(new NetworkError("POST", url.href, error)));
        response.on("end", () => {
          signal?.removeEventListener("abort", onAbort);
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = null;
          try {
            body = JSON.parse(text);
          } catch {
            // reported below
          }
          if (response.statusCode === 201) {
            const parsed = uploadReplySchema.safeParse(body);
            if (parsed.success) return resolve({ id: parsed.data.media.id });
            return reject(new Error(`Unexpected reply to POST ${url.href}: ${text.slice(0, 200)}`));
          }
          const error = errorReplySchema.safeParse(body);
          const message = (error.success && (error.data.detail ?? error.data.message ?? error.data.error)) || `HTTP ${response.statusCode}`;
          const status = response.statusCode ?? 0;
          reject(status >= 400 && status < 500 ? new UploadRefusedError(message) : new Error(`POST ${url.href}: ${message}`));
        });
      },
    );
    request.on("error", (error) => {
      signal?.removeEventListener("abort", onAbort);
      reject(new NetworkError("POST", url.href, error));
    });
    request.write(head);
    let sent = 0;
    const stream = createReadStream(file);
    stream.on("data", (chunk) => {
      sent += chunk.length;
      onBytes?.(sent, total);
    });
    stream.on("error", (error) => {
      reject(new Error(`Reading ${file} failed: ${error.message}`));
      request.destroy();
    });
    stream.on("end", () => {
      bodyComplete = true;
      request.end(tail);
    });
    stream.pipe(request, { end: false });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
