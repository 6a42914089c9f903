"use client";

import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { formatDateTime } from "../format";
import { errorMessage } from "../query-states";
import { useTRPC } from "../trpc";
import { serializeSrt, toEditable, validateCues, type Cue, type EditableCue } from "./srt-cues";

/**
 * Edits a finished job's subtitle cues. Every field is checked as it is typed; Save is
 * possible only when every cue is valid, and the server checks the SRT again.
 */
export function SrtEditor({ jobId, cues, editedAt, onReplaced }: { jobId: string; cues: readonly Cue[]; editedAt: Date | null; onReplaced: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState<EditableCue[]>(() => toEditable(cues));
  const [dirty, setDirty] = useState(false);
  const [savedCount, setSavedCount] = useState<number | null>(null);
  const refresh = async () => {
    await queryClient.invalidateQueries({ queryKey: trpc.jobs.transcript.pathKey() });
    await queryClient.invalidateQueries({ queryKey: trpc.jobs.log.pathKey() });
  };
  const save = useMutation(
    trpc.jobs.saveSubtitles.mutationOptions({
      onSuccess: async (saved) => {
        setDirty(false);
        setSavedCount(saved.cues);
        await refresh();
      },
    }),
  );
  const discard = useMutation(
    trpc.jobs.discardSubtitleEdits.mutationOptions({
      onSuccess: async () => {
        setDirty(false);
        setSavedCount(null);
        await refresh();
        onReplaced();
      },
    }),
  );
  const { errors, warnings } = useMemo(() => validateCues(draft), [draft]);

  const change = (key: string, patch: Partial<EditableCue>) => {
    setDraft((list) => list.map((cue) => (cue.key === key ? { ...cue, ...patch } : cue)));
    setDirty(true);
    setSavedCount(null);
  };

  return (
    <section aria-labelledby="editor-heading" className="card">
      <div className="page-head">
        <h2 id="editor-heading">Edit subtitles</h2>
        <div className="actions">
          {editedAt ? (
            <button type="button" className="button-secondary" disabled={discard.isPending} onClick={() => discard.mutate({ id: jobId })}>
              Restore the recognised subtitles
            </button>
          ) : null}
          <button type="button" disabled={!dirty || errors.size > 0 || save.isPending} onClick={() => save.mutate({ id: jobId, srt: serializeSrt(draft) })}>
            {save.isPending ? "Saving…" : "Save subtitles"}
          </button>
        </div>
      </div>
      <div aria-live="polite">
        {errors.size > 0 ? (
          <p className="error-text" role="alert">
            {errors.size} cue{errors.size === 1 ? " needs" : "s need"} fixing before saving.
          </p>
        ) : null}
        {warnings.map((warning) => (
          <p key={warning} className="warning-text">
            {warning}
          </p>
        ))}
        {save.error ? (
          <p role="alert" className="error-text">
            Not saved: {errorMessage(save.error)}
          </p>
        ) : null}
        {discard.error ? (
          <p role="alert" className="error-text">
            {errorMessage(discard.error)}
          </p>
        ) : null}
        {savedCount !== null ? <p className="success-text">Saved {savedCount} cues. Downloads now use your edits.</p> : null}
        {editedAt && savedCount === null && !dirty ? <p className="muted small">Edited {formatDateTime(editedAt)}; SRT, VTT and text downloads use the edits.</p> : null}
      </div>
      <ol className="cue-editor">
        {draft.map((cue, i) => {
          const problems = errors.get(cue.key) ?? {};
          const label = `Cue ${i + 1}`;
          return (
            <li key={cue.key} className={Object.keys(problems).length ? "cue-invalid" : undefined}>
              <fieldset>
                <legend className="visually-hidden">{label}</legend>
                <span className="cue-number" aria-hidden="true">
                  {i + 1}
                </span>
                <div className="cue-times">
                  <label>
                    <span className="small muted">Start</span>
                    <input value={cue.start} aria-label={`${label} start`} aria-invalid={Boolean(problems.start)} onChange={(event) => change(cue.key, { start: event.target.value })} className="mono" spellCheck={false} />
                    {problems.start ? <span className="error-text small">{problems.start}</span> : null}
                  </label>
                  <label>
                    <span className="small muted">End</span>
                    <input value={cue.end} aria-label={`${label} end`} aria-invalid={Boolean(problems.end)} onChange={(event) => change(cue.key, { end: event.target.value })} className="mono" spellCheck={false} />
                    {problems.end ? <span className="error-text small">{problems.end}</span> : null}
                  </label>
                </div>
                <label className="cue-text-field">
                  <span className="visually-hidden">{label} text</span>
                  <textarea value={cue.text} rows={2} aria-label={`${label} text`} aria-invalid={Boolean(problems.text)} onChange={(event) => change(cue.key, { text: event.target.value })} />
                  {problems.text ? <span className="error-text small">{problems.text}</span> : null}
                </label>
                <button
                  type="button"
                  className="button-link"
                  aria-label={`Delete ${label.toLowerCase()}`}
                  onClick={() => {
                    setDraft((list) => list.filter((other) => other.key !== cue.key));
                    setDirty(true);
                  }}
                >
                  Delete
                </button>
              </fieldset>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
