"use client";

import { useState } from "react";
import { TRANSCRIPT_FILE_EXTENSION } from "../../server/transcripts/render-transcript";
import { errorMessage } from "../query-states";
import { useTRPCClient, type RouterInputs } from "../trpc";

type Format = NonNullable<RouterInputs["jobs"]["transcript"]["format"]>;

const FORMATS: { format: Format; label: string }[] = [
  { format: "txt", label: "Text" },
  { format: "srt", label: "SRT" },
  { format: "vtt", label: "WebVTT" },
  { format: "json", label: "JSON (word timings)" },
  { format: "json-v2", label: "JSON (Speechmatics v2)" },
];

/** Saves text as a file through a temporary link (works for every format, with or without an API key). */
function saveText(body: string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([body], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function TranscriptDownloads({ jobId, baseName }: { jobId: string; baseName: string }) {
  const client = useTRPCClient();
  const [pending, setPending] = useState<Format | null>(null);
  const [error, setError] = useState<string | null>(null);
  const download = async (format: Format) => {
    setPending(format);
    setError(null);
    try {
      const rendered = await client.jobs.transcript.query({ id: jobId, format });
      saveText(rendered.body, `${baseName}.${TRANSCRIPT_FILE_EXTENSION[format]}`, rendered.contentType);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setPending(null);
    }
  };
  return (
    <section aria-labelledby="downloads-heading">
      <h2 id="downloads-heading">Downloads</h2>
      <div className="actions">
        {FORMATS.map(({ format, label }) => (
          <button key={format} type="button" className="button-secondary" disabled={pending !== null} onClick={() => void download(format)}>
            {pending === format ? "Preparing…" : `Download ${label}`}
          </button>
        ))}
      </div>
      {error ? (
        <p role="alert" className="error-text">
          {error}
        </p>
      ) : null}
    </section>
  );
}
