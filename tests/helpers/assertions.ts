import assert from "node:assert/strict";
import { PermanentJobError } from "../../src/server/errors";

/** For `assert.rejects`: the error is a PermanentJobError with this message (or matching it). */
export function assertPermanent(message: string | RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof PermanentJobError, `expected PermanentJobError, got ${String(error)}`);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  };
}
