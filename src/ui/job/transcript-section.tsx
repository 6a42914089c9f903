"use client";

import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { ErrorState, Loading } from "../query-states";
import { useTRPC, type JobView } from "../trpc";
import { FixWithLlm } from "./fix-with-llm";
import { SrtEditor } from "./srt-editor";
import { parseSrtCues } from "./srt-cues";
import { SyncedPlayer } from "./synced-player";
import { TranscriptDownloads } from "./transcript-downloads";

/** A finished transcription: player and transcript in sync, downloads, the SRT editor and the LLM fix. */
export function TranscriptSection({ job }: { job: JobView }) {
  const trpc = useTRPC();
  // The SRT is what the player, the editor and the downloads share: it carries the user's edits.
  const query = useQuery(trpc.jobs.transcript.queryOptions({ id: job.id, format: "srt" }));
  // Bumped when the saved subtitles are replaced from elsewhere (restored, or the LLM's applied), so the editor starts again from them.
  const [editorVersion, setEditorVersion] = useState(0);
  const resetEditor = () => setEditorVersion((version) => version + 1);
  const cues = useMemo(() => (query.data ? parseSrtCues(query.data.body) : []), [query.data]);
  if (query.isPending) return <Loading what="the transcript" />;
  if (query.isError) return <ErrorState error={query.error} what="the transcript" onRetry={() => void query.refetch()} />;
  const baseName = (job.media?.originalName ?? job.id).replace(/\.[^.]+$/, "");
  const editedAt = query.data.editedAt;
  return (
    <>
      <section aria-labelledby="transcript-heading">
        <h2 id="transcript-heading">
          Transcript {editedAt ? <span className="badge">edited</span> : null}
        </h2>
        {job.media ? <SyncedPlayer media={job.media} cues={cues} /> : <p className="muted">The media file of this job was deleted.</p>}
      </section>
      <TranscriptDownloads jobId={job.id} baseName={baseName} />
      <SrtEditor key={editorVersion} jobId={job.id} cues={cues} editedAt={editedAt} onReplaced={resetEditor} />
      <FixWithLlm jobId={job.id} onApplied={resetEditor} />
    </>
  );
}
