import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { nextRetryDelayMs, nominalRetryDelayMs, nominalStartMs, RETRY_JITTER, type WebhookRetrySchedule } from "../../src/server/webhooks/webhook-backoff";
import { headerLinesToObject } from "../../src/server/net/header-lines";
import { deliveryUrl, multipart } from "../../src/server/webhooks/webhook-payload";
import { authHeadersSchema, notificationConfigSchema, notificationWebhooks, redactNotificationConfig } from "../../src/server/webhooks/webhook-requests";
import { signWebhookBody, verifyWebhookSignature } from "../../src/server/webhooks/webhook-signature";

describe("webhook signature", () => {
  it("is sha256=<hex HMAC-SHA256> of the exact body bytes", () => {
    const body = Buffer.from('{"job":"é"}', "utf8");
    const expected = createHmac("sha256", "s3cret").update(body).digest("hex");
    assert.equal(signWebhookBody("s3cret", body), `sha256=${expected}`);
    // A string body signs its UTF-8 bytes.
    assert.equal(signWebhookBody("s3cret", '{"job":"é"}'), `sha256=${expected}`);
  });

  it("signs an empty body as the empty string", () => {
    assert.equal(signWebhookBody("k", ""), `sha256=${createHmac("sha256", "k").update("").digest("hex")}`);
    assert.equal(signWebhookBody("k", Buffer.alloc(0)), signWebhookBody("k", ""));
  });

  it("verifies only the right secret over the same bytes", () => {
    const header = signWebhookBody("k", "body");
    assert.ok(verifyWebhookSignature("k", "body", header));
    assert.ok(!verifyWebhookSignature("other", "body", header));
    assert.ok(!verifyWebhookSignature("k", "body ", header));
    assert.ok(!verifyWebhookSignature("k", "body", undefined));
    assert.ok(!verifyWebhookSignature("k", "body", "sha256=00"));
  });
});

describe("webhook retry schedule", () => {
  const schedule: WebhookRetrySchedule = { retryBaseMs: 10_000, retryMaxMs: 15 * 60_000, giveUpAfterMs: 24 * 3600_000 };

  it("doubles from the base up to the maximum", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((attempt) => nominalRetryDelayMs(attempt, schedule)),
      [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 900_000, 900_000, 900_000],
    );
    assert.equal(nominalRetryDelayMs(10_000, schedule), 900_000, "no overflow for huge attempt numbers");
  });

  it("starts attempt n after the sum of the waits before it", () => {
    assert.equal(nominalStartMs(1, schedule), 0);
    assert.equal(nominalStartMs(2, schedule), 10_000);
    assert.equal(nominalStartMs(4, schedule), 70_000);
  });

  it("adds up to 20 % jitter, never less than the nominal wait", () => {
    assert.equal(nextRetryDelayMs(3, schedule, () => 0), 40_000);
    assert.equal(nextRetryDelayMs(3, schedule, () => 0.999999), Math.round(40_000 * (1 + RETRY_JITTER * 0.999999)));
    for (let i = 0; i < 100; i++) {
      const delay = nextRetryDelayMs(2, schedule)!;
      assert.ok(delay >= 20_000 && delay <= 24_000, String(delay));
    }
  });

  it("keeps trying for the whole window (a day by default, at least an hour), then gives up", () => {
    let attempt = 1;
    let elapsed = 0;
    for (;;) {
      const delay = nextRetryDelayMs(attempt, schedule, () => 0);
      if (delay === null) break;
      elapsed += delay;
      attempt++;
    }
    // The last attempt starts within the window, and one more wait would pass it.
    assert.ok(elapsed <= schedule.giveUpAfterMs);
    assert.ok(elapsed + nominalRetryDelayMs(attempt, schedule) > schedule.giveUpAfterMs);
    assert.ok(elapsed >= 3600_000);
    // 7 doubling waits (1,270 s), then 94 waits of 15 min fit in the day: 102 attempts.
    assert.equal(attempt, 102);
  });

  it("gives up after the first attempt when the window is shorter than the first wait", () => {
    assert.equal(nextRetryDelayMs(1, { retryBaseMs: 1000, retryMaxMs: 1000, giveUpAfterMs: 500 }), null);
    assert.equal(nextRetryDelayMs(1, { retryBaseMs: 1000, retryMaxMs: 1000, giveUpAfterMs: 1000 }, () => 0), 1000);
  });
});

describe("webhook requests and payloads", () => {
  it("validates notification_config as the vendor documents it", () => {
    const ok = notificationConfigSchema.safeParse([
      { url: "https://example.com/hook?x=1", contents: ["jobinfo", "transcript.txt"], method: "PUT", auth_headers: ["Authorization: Bearer t"] },
      { url: "http://example.com/plain" },
    ]);
    assert.ok(ok.success);
    const hooks = notificationWebhooks(ok.data);
    assert.deepEqual(hooks[0], { kind: "notification", url: "https://example.com/hook?x=1", method: "PUT", authHeaders: ["Authorization: Bearer t"], contents: ["jobinfo", "transcript.txt"] });
    // Not given differs from empty: the vendor then sends the transcript as data_file.
    assert.equal(hooks[1]!.contents, null);
    for (const bad of [
      [{ url: "ftp://example.com/x" }],
      [{ url: "not a url" }],
      [{ url: "https://example.com", contents: ["data"] }],
      [{ url: "https://example.com", method: "GET" }],
      [{ url: "https://example.com", auth_headers: Array.from({ length: 21 }, (_, i) => `X-H${i}: v`) }],
    ]) {
      assert.ok(!notificationConfigSchema.safeParse(bad).success, JSON.stringify(bad));
    }
  });

  it("accepts only 'Name: value' auth headers that do not replace the server's own", () => {
    assert.ok(authHeadersSchema.safeParse(["Authorization: Bearer x", "X-Api-Key:abc"]).success);
    for (const bad of ["no colon", ": empty name", "Bad Name: x", "Host: evil", "Content-Type: text/plain", "X-Webhook-Signature: forged", "X-A: b\r\nX-B: c"]) {
      assert.ok(!authHeadersSchema.safeParse([bad]).success, bad);
    }
    assert.deepEqual(headerLinesToObject(["Authorization: Bearer a:b", "X-Key:  v "]), { Authorization: "Bearer a:b", "X-Key": "v" });
  });

  it("never echoes auth header values in the stored config", () => {
    const redacted = redactNotificationConfig({ type: "transcription", notification_config: [{ url: "https://x", auth_headers: ["Authorization: Bearer secret"] }] });
    assert.deepEqual(redacted.notification_config, [{ url: "https://x", auth_headers: ["Authorization: [redacted]"] }]);
  });

  it("adds the vendor's id and status to a notification URL, keeping the caller's query", () => {
    const url = new URL(deliveryUrl({ kind: "notification", url: "https://example.com/hook?token=abc", jobId: "j1" }, "DONE"));
    assert.equal(url.searchParams.get("token"), "abc");
    assert.equal(url.searchParams.get("id"), "j1");
    assert.equal(url.searchParams.get("status"), "success");
    assert.equal(new URL(deliveryUrl({ kind: "notification", url: "https://example.com/", jobId: "j1" }, "FAILED")).searchParams.get("status"), "error");
    assert.equal(deliveryUrl({ kind: "callback", url: "https://example.com/cb", jobId: "j1" }, "DONE"), "https://example.com/cb");
  });

  it("renders multipart/form-data that a standard parser reads back", async () => {
    const rendered = multipart([
      { name: "jobinfo", filename: "j.jobinfo.json", contentType: "application/json", body: '{"id":"j"}' },
      { name: "transcript.txt", filename: "j.txt", contentType: "text/plain; charset=utf-8", body: "héllo\r\nworld\n" },
    ]);
    const form = await new Response(rendered.body, { headers: { "content-type": rendered.contentType! } }).formData();
    assert.equal(await (form.get("jobinfo") as File).text(), '{"id":"j"}');
    assert.equal(await (form.get("transcript.txt") as File).text(), "héllo\r\nworld\n");
  });
});
