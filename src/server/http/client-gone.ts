import type { ServerResponse } from "node:http";
import { AppError } from "../errors";

/**
 * Aborts when the HTTP client goes away before its answer was sent (its connection closed,
 * or was already gone): work done for it from then on (a download, a wait) is for nobody.
 */
export function abortWhenClientGone(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const gone = () => controller.abort(new AppError("BAD_REQUEST", "The client went away"));
  if (res.destroyed && !res.writableFinished) gone();
  else
    res.once("close", () => {
      if (!res.writableFinished) gone();
    });
  return controller.signal;
}
