import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { requestedCues, startFakeOpenAiServer, type FakeOpenAiServer } from "../helpers/fake-openai-server";
import { librivoxClips, makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";
import { startServerProcess, type ServerProcess } from "../helpers/server-process";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** Where the run's screenshots go: `npm run screenshots` points this at docs/screenshots. */
const SCREENSHOT_DIR = path.resolve(ROOT, process.env.SCREENSHOT_DIR ?? "test-results/screenshots");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

async function screenshot(page: Page, name: string): Promise<void> {
  await fs.mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** "1:05.2" (a cue's time as the transcript shows it) → 65.2 s. */
function clockSeconds(text: string): number {
  const [minutes, seconds] = text.trim().split(":");
  return Number(minutes) * 60 + Number(seconds);
}

/** The model's stand-in: capitalises each cue's first letter and ends it with a full stop, timings untouched. */
function tidyCues(cues: ReturnType<typeof requestedCues>) {
  return cues.map((cue) => ({ ...cue, text: `${cue.text.charAt(0).toUpperCase()}${cue.text.slice(1)}`.replace(/([^.])$/, "$1.") }));
}

before(() => {
  // Always build: a .next left from another checkout would test old pages.
  const build = spawnSync(process.execPath, [path.join(ROOT, "scripts/build.mjs")], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NODE_ENV: "production" } });
  assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
});

function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"] });
}

/** Three recordings of real read speech: two of pocketsphinx-testdata's five LibriVox sentences each, with a pause after each, so every file has several cues. */
async function speechFiles(dir: string, count: number): Promise<string[]> {
  const clips = librivoxClips();
  assert.ok(clips.length >= 5, "pocketsphinx-testdata's LibriVox clips are installed");
  const files: string[] = [];
  for (let n = 0; n < count; n++) {
    const pair = [clips[(n * 2) % clips.length]!, clips[(n * 2 + 1) % clips.length]!];
    const parts = pair.flatMap((clip) => [{ kind: "file" as const, path: clip.path }, { kind: "silence" as const, durationS: 0.8 }]);
    files.push(await makeAudio(parts, { dir, name: `chapter-${n + 1}.wav` }));
  }
  return files;
}

describe("dashboard in a real browser, against the production build", { timeout: 600_000 }, () => {
  let temp: TempDir;
  let llm: FakeOpenAiServer;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  /** Requests of the pages that the server refused, and what the browser's policy blocked. */
  const failedRequests: string[] = [];
  const policyViolations: string[] = [];
  /** Messages of the page's live connection (server-sent events from jobs.changes), as the browser received them. */
  const liveMessages: string[] = [];

  before(async () => {
    temp = await makeTempDir("dashboard-");
    llm = await startFakeOpenAiServer((request) => ({ kind: "content", content: JSON.stringify({ cues: tidyCues(requestedCues(request)) }) }));
    server = await startServerProcess({
      env: { SERVE_UI: "true", DATA_DIR: temp.dir, ASR_ENGINE: "pocketsphinx", PARALLEL: "2", OPENAI_BASE_URL: llm.baseURL, OPENAI_API_KEY: "test", LLM_MODEL: "stand-in-model" },
      startTimeoutMs: 120_000,
    });
    browser = await launchChromium();
    const context = await browser.newContext({ baseURL: server.baseUrl, viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    // An exception in the pages' code fails the run (the last test), not just a screenshot.
    page.on("pageerror", (error) => pageErrors.push(error.message));
    // API answers are the pages' business (a 404 for a job that does not exist); every other
    // thing the pages ask for (scripts, styles, the icon) must exist.
    page.on("response", (response) => {
      if (response.status() >= 400 && !new URL(response.url()).pathname.startsWith("/api/")) failedRequests.push(`${response.status()} ${response.url()}`);
    });
    page.on("console", (message) => {
      if (/Content.Security.Policy/i.test(message.text())) policyViolations.push(message.text());
    });
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    cdp.on("Network.eventSourceMessageReceived", (message) => liveMessages.push(message.data));
  });

  after(async () => {
    await browser?.close();
    await server?.kill();
    await llm?.close();
    await temp?.cleanup();
  });

  it("starts empty, with the way to the upload page", async () => {
    const response = await page.goto("/");
    assert.match((await response?.allHeaders())?.["content-security-policy"] ?? "", /frame-ancestors 'none'/);
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
    await page.getByText("No jobs yet.").waitFor();
    await screenshot(page, "jobs-empty");
  });

  let batchUrl = "";
  it("uploads three real speech files (flagging one it cannot take) and creates a batch", async () => {
    const files = await speechFiles(temp.dir, 3);
    const notes = temp.file("notes.txt");
    await fs.writeFile(notes, "not media");
    await page.goto("/upload");
    await page.getByLabel("Files to upload").setInputFiles([...files, notes]);
    const rejected = page.locator('li[data-file="notes.txt"]');
    await rejected.getByText("Unsupported: Not audio or video (.txt)").waitFor();
    await page.getByRole("radio", { name: /Subtitles \(SRT\)/ }).check();
    await page.getByText("3 files to upload").waitFor();
    await screenshot(page, "upload");
    await page.getByRole("button", { name: "Upload and start (3)" }).click();
    await page.waitForURL(/\/batches\/[^/]+$/, { timeout: 60_000 });
    batchUrl = page.url();
  });

  it("shows the batch's aggregate progress live until all three are done, told of each change over its live connection", async () => {
    await page.getByText("3 of 3 files finished").waitFor({ timeout: 180_000 });
    const batchId = batchUrl.split("/").pop()!;
    const aboutBatch = liveMessages.filter((data) => data.includes(batchId));
    assert.ok(aboutBatch.some((data) => data.includes('"DONE"')), `the batch's end reached the page as a server-sent event (${liveMessages.length} messages)`);
    assert.equal(await page.locator('[data-stat="done"]').textContent(), "3");
    assert.equal(await page.locator("tr[data-status='DONE']").count(), 3);
    await screenshot(page, "batch");
  });

  it("lists the batch on the jobs page and filters by status", async () => {
    await page.goto("/");
    await page.locator("tr[data-status='DONE']").first().waitFor();
    await screenshot(page, "jobs");
    await page.getByLabel("Status").selectOption("FAILED");
    await page.getByText("No jobs match these filters.").waitFor();
    // The filter is in the URL: a reload keeps it.
    await page.waitForURL(/\?status=FAILED$/);
    await page.reload();
    await page.getByText("No jobs match these filters.").waitFor();
    assert.equal(await page.getByLabel("Status").inputValue(), "FAILED");
    await page.getByRole("button", { name: "Clear filters" }).click();
    await page.locator("tr[data-status='DONE']").first().waitFor();
  });

  let jobUrl = "";
  it("opens a transcript and seeks the player by clicking a segment, and by keyboard", async () => {
    await page.goto(batchUrl);
    await page.locator("tr[data-status='DONE'] td.cell-title a").first().click();
    await page.waitForURL(/\/jobs\/[^/]+$/);
    jobUrl = page.url();
    const cues = page.getByRole("list", { name: /Transcript/ }).getByRole("button");
    await cues.first().waitFor();
    const count = await cues.count();
    assert.ok(count >= 2, `expected several cues, got ${count}`);
    // The player must have loaded the media before it can seek.
    await page.waitForFunction(() => (document.querySelector("audio")?.readyState ?? 0) >= 1);

    const target = cues.nth(count - 1);
    const startText = (await target.locator(".cue-time").textContent()) ?? "";
    await target.click();
    await page.waitForFunction(() => (document.querySelector("audio")?.currentTime ?? 0) > 0.5);
    const position = await page.evaluate(() => document.querySelector("audio")!.currentTime);
    const expected = clockSeconds(startText);
    assert.ok(Math.abs(position - expected) < 0.2, `seeked to ${position}, cue starts at ${expected}`);
    assert.equal(await target.getAttribute("aria-current"), "true", "the cue played is highlighted");

    const firstStart = clockSeconds((await cues.first().locator(".cue-time").textContent()) ?? "");
    await cues.first().focus();
    await page.keyboard.press("Enter");
    await page.waitForFunction((start) => Math.abs((document.querySelector("audio")?.currentTime ?? -1) - start) < 0.2, firstStart);
    assert.equal(await cues.first().getAttribute("aria-current"), "true");
    await screenshot(page, "job");
  });

  it("validates an SRT edit, saves a corrected cue, and the downloaded SRT has it", async () => {
    const endField = page.getByLabel("Cue 1 end");
    const original = await endField.inputValue();
    await endField.fill("00:00:0x,000");
    await page.getByText("Use HH:MM:SS,mmm").waitFor();
    assert.equal(await page.getByRole("button", { name: "Save subtitles" }).isDisabled(), true, "an invalid cue blocks saving");
    await endField.fill(original);

    await page.getByLabel("Cue 1 text").fill("An edited first cue");
    await page.getByRole("button", { name: "Save subtitles" }).click();
    await page.getByText(/^Saved \d+ cues/).waitFor();
    await page.getByRole("heading", { name: /Transcript/ }).getByText("edited").waitFor();
    // The synced transcript shows the edit too.
    await page.getByRole("list", { name: /Transcript/ }).getByText("An edited first cue").waitFor();

    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download SRT" }).click()]);
    assert.match(download.suggestedFilename(), /\.srt$/);
    const srt = await fs.readFile((await download.path())!, "utf8");
    assert.match(srt, /^1\r?\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\r?\nAn edited first cue\r?\n/);
    await screenshot(page, "job-editor");
  });

  it("fixes the subtitles with the LLM and shows the before/after diff", async () => {
    await page.getByRole("button", { name: "Fix with LLM", exact: true }).click();
    await page.getByRole("table").filter({ hasText: "cues changed" }).waitFor({ timeout: 60_000 });
    const firstAfter = await page.locator(".diff-table tbody tr").first().locator(".diff-after").textContent();
    assert.match(firstAfter ?? "", /\.$/, "the diff shows the corrected text");
    assert.ok(llm.requests.length >= 1);
    // Applying the corrections makes them this job's subtitles.
    await page.getByRole("button", { name: "Use the corrected subtitles" }).click();
    await page.getByRole("list", { name: /Transcript/ }).getByText("An edited first cue.", { exact: true }).waitFor();
    assert.equal(await page.getByLabel("Cue 1 text").inputValue(), "An edited first cue.");
    await page.getByRole("region", { name: "Fix with LLM" }).screenshot({ path: path.join(SCREENSHOT_DIR, "job-llm-fix.png") });
  });

  it("shows engines, queue depth and throughput on the capacity page", async () => {
    await page.goto("/capacity");
    await page.getByRole("heading", { name: "Engines" }).waitFor();
    await page.locator(".stat-card").filter({ hasText: "In use" }).getByText("of 2").waitFor();
    // Each kind of work with its own limit: 2 engine slots, the ffmpeg pool, the LLM limit.
    const lanes = page.getByRole("table", { name: /Jobs running in each lane/ });
    assert.deepEqual(await lanes.locator("tbody th").allTextContents(), ["engines", "ffmpeg", "llm"]);
    assert.equal(await lanes.locator('tr[data-lane="engines"] td').last().textContent(), "2");
    const chart = page.getByRole("img", { name: /Files finished per/ });
    await chart.waitFor();
    // 3 transcriptions and the LLM fix finished in the last hour.
    assert.match((await chart.getAttribute("aria-label")) ?? "", /4 done, 0 failed/);
    await screenshot(page, "capacity");
  });

  it("takes dropped files, reports a refused upload per file, and starts the batch without it", async () => {
    await page.goto("/upload");
    const speech = (await fs.readFile(librivoxClips()[1]!.path)).toString("base64");
    const dropped = await page.evaluateHandle((wav) => {
      const data = new DataTransfer();
      data.items.add(new File([Uint8Array.from(atob(wav), (char) => char.charCodeAt(0))], "dropped-speech.wav", { type: "audio/wav" }));
      data.items.add(new File(["RIFF but not really a WAV"], "broken.wav", { type: "audio/wav" }));
      return data;
    }, speech);
    await page.locator(".dropzone").dispatchEvent("drop", { dataTransfer: dropped });
    await page.getByText("2 files to upload").waitFor();
    await page.getByRole("button", { name: "Upload and start (2)" }).click();
    // The server refuses the broken file (4xx: not retried); the other upload is unaffected.
    await page.getByRole("alert").getByText("1 file could not be uploaded").waitFor({ timeout: 30_000 });
    await screenshot(page, "upload-failed");
    const broken = page.locator('li[data-file="broken.wav"]');
    assert.match((await broken.locator(".file-state").textContent()) ?? "", /\S/, "the refusal is shown beside the file");
    assert.equal(await page.locator('li[data-file="dropped-speech.wav"] .file-state').textContent(), "uploaded");
    await page.getByRole("button", { name: "Start without the 1 failed" }).click();
    await page.waitForURL(/\/batches\//);
    await page.getByText("1 of 1 files finished").waitFor({ timeout: 60_000 });
  });

  it("cancels a running batch from its page, then retries its cancelled file to completion", async () => {
    // About 40 s of real speech: long enough to still be running when Cancel is clicked.
    const clips = librivoxClips();
    const parts = [...clips, ...clips].flatMap((clip) => [{ kind: "file" as const, path: clip.path }, { kind: "silence" as const, durationS: 1 }]);
    const long = await makeAudio(parts, { dir: temp.dir, name: "long-reading.wav" });
    await page.goto("/upload");
    await page.getByLabel("Files to upload").setInputFiles([long]);
    await page.getByRole("button", { name: "Upload and start (1)" }).click();
    await page.waitForURL(/\/batches\//);
    await page.getByRole("button", { name: "Cancel", exact: true }).click();
    await page.locator("tr[data-status='CANCELLED']").waitFor();
    assert.equal(await page.locator('[data-stat="cancelled"]').textContent(), "1");
    await page.getByRole("button", { name: "Retry failed" }).click();
    await page.locator("tr[data-status='DONE']").waitFor({ timeout: 120_000 });
    assert.equal(await page.locator('[data-stat="done"]').textContent(), "1");
    await page.getByRole("list", { name: "Log lines" }).getByText(/Batch finished: 1 done/).waitFor();
  });

  it("reports a job that does not exist instead of crashing", async () => {
    await page.goto("/jobs/no-such-job");
    await page.getByRole("alert").getByText(/no-such-job/).waitFor();
    assert.ok(jobUrl.length > 0);
  });

  it("raised no errors in the pages' code", () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(failedRequests, []);
    assert.deepEqual(policyViolations, [], "the dashboard runs under its Content-Security-Policy");
  });
});

describe("dashboard on a server that requires an API key", { timeout: 300_000 }, () => {
  let temp: TempDir;
  let server: ServerProcess;
  let browser: Browser;

  before(async () => {
    temp = await makeTempDir("dashboard-key-");
    server = await startServerProcess({ env: { SERVE_UI: "true", DATA_DIR: temp.dir, ASR_ENGINE: "pocketsphinx", PARALLEL: "1", API_KEYS: "dashboard-secret" }, startTimeoutMs: 120_000 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.kill();
    await temp?.cleanup();
  });

  it("asks for the key, then uploads, plays the media and downloads with it", async () => {
    const page = await (await browser.newContext({ baseURL: server.baseUrl, acceptDownloads: true })).newPage();
    await page.goto("/");
    await page.getByRole("alert").getByText("This server needs an API key").waitFor();
    await page.getByLabel("API key").fill("wrong-key");
    await page.getByRole("button", { name: "Save key" }).click();
    await page.getByRole("alert").getByText("This server needs an API key").waitFor();
    await page.getByLabel("API key").fill("dashboard-secret");
    await page.getByRole("button", { name: "Save key" }).click();
    await page.getByText("No jobs yet.").waitFor();

    // The upload (XHR), the batch (tRPC) and the player (a plain media URL) all carry the key.
    await page.goto("/upload");
    await page.getByLabel("Files to upload").setInputFiles(await speechFiles(temp.dir, 1));
    await page.getByRole("button", { name: "Upload and start (1)" }).click();
    await page.waitForURL(/\/batches\//);
    await page.getByText("1 of 1 files finished").waitFor({ timeout: 120_000 });
    await page.locator("tr[data-status='DONE'] td.cell-title a").first().click();
    await page.getByRole("list", { name: /Transcript/ }).getByRole("button").first().waitFor();
    await page.waitForFunction(() => (document.querySelector("audio")?.readyState ?? 0) >= 1, undefined, { timeout: 15_000 });
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download WebVTT" }).click()]);
    assert.match(await fs.readFile((await download.path())!, "utf8"), /^WEBVTT/);
  });
});
