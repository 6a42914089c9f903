import type { IncomingMessage } from "node:http";
import type { AppConfig } from "../../env";
import { bearerToken } from "../../http/auth";
import type { StatusStyle } from "../../wire/v2-job";

/**
 * The /v2 API serves two client families with one status vocabulary, the vendor's
 * (running, done, rejected, deleted), in two spellings: uppercase for clients written
 * against the batch worker spec (which shows "RUNNING", "DONE"), lowercase for clients of
 * the vendor's SaaS batch API. Those always authenticate with a bearer token, so "auto"
 * picks lowercase exactly when an Authorization header is present. V2_STATUS_STYLE pins one.
 */
export function statusStyleOf(req: IncomingMessage, config: Pick<AppConfig, "v2StatusStyle">): StatusStyle {
  if (config.v2StatusStyle !== "auto") return config.v2StatusStyle;
  return bearerToken(req) ? "lower" : "upper";
}
