import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderTranscript, type TranscriptDocument } from "../../src/server/transcripts/render-transcript";
import { parseSrt } from "../../src/server/subtitles/srt";
import { parseVtt } from "../../src/server/subtitles/vtt";

const doc: TranscriptDocument = {
  jobId: "job_123",
  language: "en",
  engine: "pocketsphinx",
  durationS: 12.3456,
  createdAt: new Date("2025-01-02T03:04:05.678Z"),
  segments: [
    {
      startS: 0.15,
      endS: 1.0,
      text: "and mister john",
      words: [
        { text: "and", startS: 0.15, endS: 0.36, confidence: 0.260057 },
        { text: "mister", startS: 0.37, endS: 0.62, confidence: 0.988762 },
        { text: "john", startS: 0.63, endS: 1.0, confidence: 0.929128 },
      ],
    },
    { startS: 10.33, endS: 11.09, text: "he was not", words: [
      { text: "he", startS: 10.33, endS: 10.44, confidence: 0.9984 },
      { text: "was", startS: 10.45, endS: 10.66, confidence: 0.9995 },
      { text: "not", startS: 10.67, endS: 11.09, confidence: 0.997104 },
    ] },
  ],
};

describe("renderTranscript", () => {
  it("txt: one segment per line", () => {
    assert.deepEqual(renderTranscript(doc, "txt"), { body: "and mister john\nhe was not\n", contentType: "text/plain; charset=utf-8" });
    assert.equal(renderTranscript({ ...doc, segments: [] }, "txt").body, "");
  });

  it("json: where word times come from, and Whisper's per-window decoding figures on its segments", () => {
    const decoding = { avgLogProb: -0.123456, compressionRatio: 1.654321, noSpeechProb: 0.0123456, temperature: 0.4 };
    const whisper: TranscriptDocument = { ...doc, engine: "whisper-onnx", wordTimings: "aligned", segments: doc.segments.map((segment) => ({ ...segment, decoding })) };
    const json = JSON.parse(renderTranscript(whisper, "json").body) as { word_timings: string; segments: Record<string, unknown>[] };
    assert.equal(json.word_timings, "aligned");
    assert.deepEqual(
      json.segments.map(({ avg_logprob, compression_ratio, no_speech_prob, temperature }) => ({ avg_logprob, compression_ratio, no_speech_prob, temperature })),
      [0, 1].map(() => ({ avg_logprob: -0.1235, compression_ratio: 1.6543, no_speech_prob: 0.0123, temperature: 0.4 })),
    );
    // Without them (PocketSphinx, older transcripts) the fields are absent, not invented.
    const plain = JSON.parse(renderTranscript(doc, "json").body) as Record<string, unknown> & { segments: Record<string, unknown>[] };
    assert.equal("word_timings" in plain, false);
    assert.equal("avg_logprob" in plain.segments[0]!, false);
  });

  it("json: the platform shape in seconds", () => {
    const rendered = renderTranscript(doc, "json");
    assert.equal(rendered.contentType, "application/json; charset=utf-8");
    assert.deepEqual(JSON.parse(rendered.body), {
      job_id: "job_123",
      language: "en",
      engine: "pocketsphinx",
      duration: 12.346,
      segments: [
        {
          start: 0.15, end: 1, text: "and mister john",
          words: [
            { word: "and", start: 0.15, end: 0.36, confidence: 0.26 },
            { word: "mister", start: 0.37, end: 0.62, confidence: 0.989 },
            { word: "john", start: 0.63, end: 1, confidence: 0.929 },
          ],
        },
        {
          start: 10.33, end: 11.09, text: "he was not",
          words: [
            { word: "he", start: 10.33, end: 10.44, confidence: 0.998 },
            { word: "was", start: 10.45, end: 10.66, confidence: 1 },
            { word: "not", start: 10.67, end: 11.09, confidence: 0.997 },
          ],
        },
      ],
    });
  });

  it("json-v2: the Speechmatics v2 transcript shape", () => {
    const rendered = renderTranscript(doc, "json-v2", {
      dataName: "interview.wav",
      language: "en-US",
      transcriptionConfig: { diarization: "none" },
      transcriptCreatedAt: new Date("2025-01-02T03:05:00.000Z"),
    });
    const body = JSON.parse(rendered.body);
    assert.equal(body.format, "2.9");
    assert.deepEqual(body.job, { id: "job_123", created_at: "2025-01-02T03:04:05.678Z", data_name: "interview.wav", duration: 12 });
    assert.deepEqual(body.metadata, {
      created_at: "2025-01-02T03:05:00.000Z",
      type: "transcription",
      transcription_config: { language: "en-US", diarization: "none" },
    });
    assert.equal(body.results.length, 6);
    assert.deepEqual(body.results[0], {
      type: "word",
      start_time: 0.15,
      end_time: 0.36,
      alternatives: [{ content: "and", confidence: 0.26, language: "en" }],
    });
    const starts: number[] = body.results.map((result: { start_time: number }) => result.start_time);
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
  });

  it("json-v2 spreads segment text over its span when there are no word timings", () => {
    const body = JSON.parse(renderTranscript({ ...doc, segments: [{ startS: 0, endS: 2, text: "ab cd", words: [] }] }, "json-v2").body);
    assert.deepEqual(body.results.map((r: { start_time: number; end_time: number; alternatives: { content: string }[] }) => [r.alternatives[0]?.content, r.start_time, r.end_time]), [
      ["ab", 0, 1],
      ["cd", 1, 2],
    ]);
    assert.equal(body.metadata.transcription_config.language, "en");
    assert.equal(body.job.data_name, "");
  });

  it("srt and vtt: parseable subtitles carrying every word", () => {
    const srt = renderTranscript(doc, "srt");
    assert.equal(srt.contentType, "application/x-subrip; charset=utf-8");
    const srtCues = parseSrt(srt.body);
    assert.deepEqual(srtCues.map((cue) => cue.lines.join(" ")), ["and mister john", "he was not"]);
    assert.equal(srtCues[0]?.startS, 0.15);
    assert.equal(srtCues[0]?.endS, 1.15); // stretched to the 1 s minimum

    const vtt = renderTranscript(doc, "vtt");
    assert.equal(vtt.contentType, "text/vtt; charset=utf-8");
    assert.ok(vtt.body.startsWith("WEBVTT\n\n"));
    assert.deepEqual(parseVtt(vtt.body), srtCues);
  });
});
