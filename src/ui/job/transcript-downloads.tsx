"use client";

import { useState } from "react";
import { errorMessage } from "../query-states";
import { useTRPCClient, type RouterInputs } from "../trpc";

type Format = NonNullable<RouterInputs["jobs"]["transcript"]["format"]>;

const FORMATS: { format: Format; label: string; extension: string }[] = [
  { format: "txt", label: "Text", extension: "txt" },
  { format: "srt", label: "SRT", extension: "srt" },
  { format: "vtt", label: "WebVTT", extension: "vtt" },
  { format: "json", label: "JSON (word timings)", extension: "json" },
  { format: "json-v2", label: "JSON (Speechmatics v2)", extension: "v2.json" },
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
  const download = async (format: Format, extension: string) => {
    setPending(format);
    setError(null);
    try {
      const rendered = await client.jobs.transcript.query({ id: jobId, format });
      saveText(rendered.body, `${baseName}.${extension}`, rendered.contentType);
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
        {FORMATS.map(({ format, label, extension }) => (
          <button key={format} type="button" className="button-secondary" disabled={pending !== null} onClick={() => void download(format, extension)}>
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
