import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { ownerFor } from "../../access";
import type { App } from "../../app";
import { AppError } from "../../errors";
import { authenticateWithQueryToken } from "../../http/auth";
import { parseByteRange } from "../../http/byte-range";
import { STORED_FILE_HEADERS } from "../../http/security-headers";
import { contentTypeOfFormat } from "../../media/content-types";
import { sendJson, v2ErrorShape } from "../../http/respond";
import type { Router } from "../../http/router";
import { toMediaView } from "../../services/job-views";
import { BlobMissingError } from "../../storage/blob-store";
import { guardedRoute } from "./guard";
import { receiveMediaUpload } from "./upload-media";

/**
 * POST /api/uploads: streams one media file (form field "file") into the blob store and
 * returns its id, which tRPC's jobs.create / jobs.createBatch take. Uploads stay out of
 * tRPC so they stream instead of being buffered as JSON.
 */
export function registerUploadRoutes(router: Router, app: App): void {
  const guard = guardedRoute(app, v2ErrorShape);
  router.on(
    "POST",
    "/api/uploads",
    guard(async ({ req, res, principal }) => {
      const upload = await receiveMediaUpload(app, req, ["file"], ownerFor(principal));
      if (!upload.file) throw new AppError("BAD_REQUEST", 'Missing form field "file"');
      const media = await app.media.record(upload.file.stored);
      sendJson(res, 201, { media: toMediaView(media, app.media.uri(media)) });
    }),
  );

  // GET (and HEAD) /api/media/{id}/content: a stored file's bytes (an upload, a corrected SRT,
  // a converted video). Byte ranges let the dashboard's <audio>/<video> player seek;
  // ?disposition=inline plays instead of downloading; ?access_token= stands in for the
  // Authorization header a media element cannot send.
  const mediaGuard = guardedRoute(app, v2ErrorShape, ({ req, url }) => authenticateWithQueryToken(req, url, app.config.apiKeys));
  router.on(
    "GET",
    "/api/media/:id/content",
    mediaGuard(async ({ req, res, params, url, principal }) => {
      const disposition = dispositionSchema.safeParse(url.searchParams.get("disposition") ?? undefined);
      if (!disposition.success) throw new AppError("BAD_REQUEST", 'disposition must be "attachment" or "inline"');
      const media = await app.jobsFor(principal).media(params.id!);
      const file = await app.media.localPath(media).catch((error: unknown) => {
        if (error instanceof BlobMissingError) throw new AppError("NOT_FOUND", `The bytes of media file ${media.id} are missing from the blob store`);
        throw error;
      });
      const size = (await stat(file)).size;
      const headers = {
        // From our probe, never the type the uploader claimed (rows written before the probe
        // decided it still hold the claimed one).
        "content-type": contentTypeOfFormat(media.format, media.originalName),
        ...STORED_FILE_HEADERS,
        "content-disposition": contentDisposition(disposition.data, media.originalName),
        "accept-ranges": "bytes",
      };
      const range = parseByteRange(req.headers.range, size);
      if (range.kind === "unsatisfiable") {
        res.writeHead(416, { "content-range": `bytes */${size}`, "content-length": 0 });
        res.end();
        return;
      }
      const { start, end } = range.kind === "partial" ? range : { start: 0, end: size - 1 };
      res.writeHead(range.kind === "partial" ? 206 : 200, {
        ...headers,
        "content-length": end - start + 1,
        ...(range.kind === "partial" ? { "content-range": `bytes ${start}-${end}/${size}` } : {}),
      });
      if (req.method === "HEAD" || size === 0) {
        res.end();
        return;
      }
      try {
        await pipeline(createReadStream(file, { start, end }), res);
      } catch (error) {
        // Players drop a response as soon as they seek elsewhere: not a server error.
        if (res.destroyed && isPrematureClose(error)) return;
        throw error;
      }
    }),
  );
}

const dispositionSchema = z.enum(["attachment", "inline"]).default("attachment");

/**
 * A Content-Disposition header for a stored file's name: an ASCII fallback in `filename`
 * (Node refuses header characters beyond Latin-1) and the exact name in RFC 6266's `filename*`.
 */
function contentDisposition(type: "attachment" | "inline", name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const exact = encodeURIComponent(name).replace(/['()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
  return fallback === name ? `${type}; filename="${name}"` : `${type}; filename="${fallback}"; filename*=UTF-8''${exact}`;
}

function isPrematureClose(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ERR_STREAM_PREMATURE_CLOSE";
}
