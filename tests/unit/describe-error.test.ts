import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeError } from "../../src/server/errors";

describe("describeError", () => {
  it("takes the reason out of Prisma's message, whose first line is empty and second names the call", () => {
    const prisma = new Error("\nInvalid `prisma.$queryRawUnsafe()` invocation:\n\n\nRaw query failed. Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:5433`");
    assert.equal(describeError(prisma), "Can't reach database server at 127.0.0.1:5433");
    const plain = new Error("\nInvalid `prisma.job.findMany()` invocation:\n\nServer has closed the connection.");
    assert.equal(describeError(plain), "Server has closed the connection.");
  });

  it("names the errors inside an AggregateError without a message (a host name with several addresses)", () => {
    const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: "ECONNREFUSED" });
    const error = new AggregateError([refused("::1:5432"), refused("127.0.0.1:5432")], "");
    assert.equal(describeError(error), "connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432");
  });

  it("never answers an empty string", () => {
    assert.equal(describeError(Object.assign(new Error(""), { code: "ECONNRESET" })), "Error (ECONNRESET)");
    assert.equal(describeError(new Error("terminating connection due to administrator command")), "terminating connection due to administrator command");
    assert.equal(describeError(""), "unknown error");
  });
});
