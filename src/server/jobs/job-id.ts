import { randomBytes } from "node:crypto";

/** 20 lowercase hex characters, the shape the batch worker API uses ("191f47e4a4204fa4ac2b"). */
export function createJobId(): string {
  return randomBytes(10).toString("hex");
}
