import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import type { App } from "../../app";
import { AppError } from "../../errors";
import { sendJson, v2ErrorShape } from "../../http/respond";
import type { Router } from "../../http/router";
import { toMediaView } from "../../services/job-views";
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
    guard(async ({ req, res }) => {
      const upload = await receiveMediaUpload(app, req, ["file"]);
      if (!upload.file) throw new AppError("BAD_REQUEST", 'Missing form field "file"');
      sendJson(res, 201, { media: toMediaView(upload.file.stored, app.media.uri(upload.file.stored)) });
    }),
  );

  // GET /api/media/{id}/content: a stored file's bytes (an upload, a corrected SRT, a converted video).
  router.on(
    "GET",
    "/api/media/:id/content",
    guard(async ({ res, params }) => {
      const media = await app.media.get(params.id!);
      const file = await app.media.localPath(media);
      const size = (await stat(file)).size;
      res.writeHead(200, {
        "content-type": media.contentType ?? "application/octet-stream",
        "content-length": size,
        "content-disposition": `attachment; filename="${media.originalName.replace(/["\\\r\n]/g, "_")}"`,
      });
      await pipeline(createReadStream(file), res);
    }),
  );
}
