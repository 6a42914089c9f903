import type { IncomingMessage, ServerResponse } from "node:http";
import { AppError, httpStatusOf, publicMessageOf, describeError } from "../errors";
import type { Logger } from "../logger";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body, (_key, value: unknown) => (typeof value === "bigint" ? Number(value) : value));
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

export function sendText(res: ServerResponse, status: number, body: string, contentType: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** How an API family shapes its error bodies. */
export type ErrorShape = (status: number, error: AppError) => unknown;

/** Speechmatics-style `{ code, error, detail }`; `detail` alone is what the worker spec shows. */
export const v2ErrorShape: ErrorShape = (status, error) => ({
  code: status,
  error: V2_ERROR_TITLES[status] ?? "Error",
  detail: error.message,
  ...(error.details ?? {}),
});

const V2_ERROR_TITLES: Record<number, string> = {
  400: "Job rejected",
  401: "Permission Denied",
  403: "Forbidden",
  404: "Job not found",
  409: "Conflict",
  413: "File too large",
  415: "Unsupported media",
  503: "Server busy",
  507: "Insufficient storage",
  504: "Timeout",
  500: "Internal Server Error",
};

/** The async API's `{ error, message }`. */
export const asyncErrorShape: ErrorShape = (_status, error) => ({
  error: error.message,
  message: ASYNC_MESSAGES[error.code] ?? error.message,
  ...(error.details ?? {}),
});

const ASYNC_MESSAGES: Partial<Record<AppError["code"], string>> = {
  NOT_FOUND: "The transcription job does not exist or has been deleted.",
  PAYLOAD_TOO_LARGE: "Upload a smaller file or raise MAX_UPLOAD_BYTES.",
  BAD_REQUEST: "Check the request parameters.",
};

/**
 * OpenAI's `{ error: { message, type, param, code } }`, which its SDKs parse into typed
 * errors. `param` and `code` come from the AppError's details when it names them
 * (`{ param: "model", code: "model_not_found" }`); other details are not part of the shape.
 */
export const openAiErrorShape: ErrorShape = (status, error) => {
  const param = error.details?.param;
  const code = error.details?.code;
  return {
    error: {
      message: error.message,
      type: status >= 500 ? "server_error" : "invalid_request_error",
      param: typeof param === "string" ? param : null,
      code: typeof code === "string" ? code : (OPENAI_CODES[error.code] ?? null),
    },
  };
};

const OPENAI_CODES: Partial<Record<AppError["code"], string>> = {
  UNAUTHORIZED: "invalid_api_key",
  NOT_FOUND: "not_found",
  TIMEOUT: "timeout",
};

/**
 * Answers any error: AppErrors with their status and message, anything else as a 500
 * with a generic message (the details go to the operator log, never to the client).
 */
export function sendError(res: ServerResponse, req: IncomingMessage, error: unknown, shape: ErrorShape, logger: Logger): void {
  const appError = error instanceof AppError ? error : new AppError("INTERNAL", publicMessageOf(error));
  const status = httpStatusOf(appError);
  if (status >= 500 && status !== 503 && status !== 504) {
    logger.error("request failed", { method: req.method, url: redactUrl(req.url), error: describeError(error) });
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, shape(status, appError));
}

/** A request URL fit for a log line: an API key passed as ?access_token= (media players) is masked. */
export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(/([?&]access_token=)[^&#]*/gi, "$1[redacted]");
}
