import { z } from "zod";

/** "true"/"false"/"1"/"0"/"yes"/"no" → boolean. */
export const booleanString = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((value) => value === "true" || value === "1" || value === "yes");

export const positiveInt = z.coerce.number().int().positive();

/** Formats zod issues as `NAME: message` lines for a start-up error. */
export function describeEnvIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(env)"}: ${issue.message}`).join("\n  ");
}
