import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { redactUrl } from "../../src/server/http/respond";

describe("redactUrl", () => {
  it("masks an API key passed as ?access_token= wherever it sits in the query", () => {
    assert.equal(redactUrl("/api/media/m1/content?access_token=s3cret"), "/api/media/m1/content?access_token=[redacted]");
    assert.equal(redactUrl("/api/media/m1/content?disposition=inline&access_token=s3cret&x=1"), "/api/media/m1/content?disposition=inline&access_token=[redacted]&x=1");
    assert.equal(redactUrl("/a?ACCESS_TOKEN=k#frag"), "/a?ACCESS_TOKEN=[redacted]#frag");
  });
  it("leaves other URLs alone", () => {
    assert.equal(redactUrl("/v2/jobs?limit=5"), "/v2/jobs?limit=5");
    assert.equal(redactUrl("/a?my_access_token=x"), "/a?my_access_token=x");
    assert.equal(redactUrl(undefined), undefined);
  });
});
