import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { z } from "zod";
import { authHeaders, type Connection } from "./connection";

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
 * Streams one file to POST /api/uploads as multipart/form-data, reporting bytes sent, so a
 * large video never sits in memory and the caller can draw a progress bar.
 */
export async function uploadFile(connection: Connection, file: string, onBytes: (sent: number, total: number) => void, signal?: AbortSignal): Promise<{ id: string }> {
  const total = (await fs.stat(file)).size;
  const boundary = `----transcribe-cli-${randomBytes(12).toString("hex")}`;
  const name = path.basename(file).replace(/["\r\n]/g, "_");
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL("/api/uploads", connection.server);
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      { method: "POST", headers: { ...authHeaders(connection), "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": head.length + total + tail.length }, ...(signal ? { signal } : {}) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
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
            return reject(new Error(`Unexpected upload reply: ${text.slice(0, 200)}`));
          }
          const error = errorReplySchema.safeParse(body);
          const message = (error.success && (error.data.detail ?? error.data.message ?? error.data.error)) || `HTTP ${response.statusCode}`;
          const status = response.statusCode ?? 0;
          reject(status >= 400 && status < 500 ? new UploadRefusedError(message) : new Error(message));
        });
      },
    );
    request.on("error", reject);
    request.write(head);
    let sent = 0;
    const stream = createReadStream(file);
    stream.on("data", (chunk) => {
      sent += chunk.length;
      onBytes(sent, total);
    });
    stream.on("error", (error) => request.destroy(error));
    stream.on("end", () => request.end(tail));
    stream.pipe(request, { end: false });
  });
}
