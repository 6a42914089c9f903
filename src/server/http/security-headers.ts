import type { ServerResponse } from "node:http";

/**
 * Headers every response carries. `nosniff` stops a browser from second-guessing our
 * Content-Type (a text file that looks like HTML stays text); `no-referrer` keeps the
 * `?access_token=` of a media URL out of other sites' logs.
 */
const EVERY_RESPONSE: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/**
 * Stored files (uploads and outputs) are the users' bytes served from the dashboard's
 * origin. Opened directly they run in a sandbox (an opaque origin: no scripts, no access to
 * the dashboard's storage, cookies or API key) and may load nothing but themselves.
 */
export const STORED_FILE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "sandbox; default-src 'none'; media-src 'self'; style-src 'unsafe-inline'",
  "cross-origin-resource-policy": "same-origin",
};

/**
 * The dashboard's policy. Next.js bootstraps each page with inline scripts, so scripts are
 * 'self' plus inline; what the policy buys is that nothing is loaded from or sent to
 * another origin (connect-src, img-src, form-action), no plugin runs, and no other site
 * may frame the dashboard.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export function setBaselineHeaders(res: ServerResponse): void {
  for (const [name, value] of Object.entries(EVERY_RESPONSE)) res.setHeader(name, value);
}

export function setDashboardHeaders(res: ServerResponse): void {
  res.setHeader("content-security-policy", DASHBOARD_CSP);
  res.setHeader("x-frame-options", "DENY");
}
