import type { ServerResponse } from "node:http";

/**
 * What a request's handlers learned that its access-log line and metrics need: the route
 * template it matched and the job it concerns. Kept beside the response rather than on it,
 * so nothing is added to Node's objects and a finished response takes its notes with it.
 */
export type RequestNotes = { route?: string; jobId?: string };

const notes = new WeakMap<ServerResponse, RequestNotes>();

export function notesOf(res: ServerResponse): RequestNotes {
  let found = notes.get(res);
  if (!found) {
    found = {};
    notes.set(res, found);
  }
  return found;
}

/** The route template that answers the request ("/v2/jobs/:id"), and its job when its `:id` names one. */
export function noteRoute(res: ServerResponse, template: string, params: Record<string, string> = {}): void {
  const found = notesOf(res);
  found.route = template;
  if (found.jobId === undefined && params.id !== undefined && /\/jobs\/:id(\/|$)/.test(template)) found.jobId = params.id;
}

/** The job a request created or concerns, for its access-log line. */
export function noteJobId(res: ServerResponse, jobId: string): void {
  notesOf(res).jobId = jobId;
}
