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
}
