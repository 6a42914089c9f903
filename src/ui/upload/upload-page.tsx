"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useId, useRef, useState } from "react";
import { convertOptionsSchema } from "../../server/media/convert-options";
import { eachLimited } from "../../shared/each-limited";
import { formatBytes } from "../format";
import { errorMessage } from "../query-states";
import { ProgressBar } from "../status";
import { useTRPC } from "../trpc";
import { filesFromDrop, filesFromInput, type PickedFile } from "./collect-files";
import { ACCEPT_ATTRIBUTE, OPERATIONS, rejectReason, type Operation } from "./media-kinds";
import { UploadError, uploadFile } from "./upload-file";

type ItemState = "ready" | "uploading" | "uploaded" | "failed";
type Item = { key: string; picked: PickedFile; state: ItemState; loaded: number; error?: string; mediaId?: string };

const CONCURRENT_UPLOADS = 3;
const ATTEMPTS_PER_FILE = 3;
const CONVERT_FORMATS = convertOptionsSchema.shape.format.unwrap().options;

/** Rows the file list draws: thousands of rows would make every progress update slow. */
const MAX_LISTED = 300;

/** The rows worth showing first when there are too many: problems, then what is moving, then the rest in order. */
function visibleItems(items: readonly Item[], operation: Operation): Item[] {
  if (items.length <= MAX_LISTED) return [...items];
  const rank = (item: Item) => (item.state === "failed" || rejectReason(item.picked.file, operation) ? 0 : item.state === "uploading" ? 1 : 2);
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => rank(a.item) - rank(b.item) || a.index - b.index)
    .slice(0, MAX_LISTED)
    .map(({ item }) => item);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function UploadPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const capacity = useQuery(trpc.system.capacity.queryOptions());
  const createBatch = useMutation(trpc.jobs.createBatch.mutationOptions());

  const [items, setItems] = useState<Item[]>([]);
  const [operation, setOperation] = useState<Operation>("transcript");
  const [language, setLanguage] = useState("en");
  const [engines, setEngines] = useState(1);
  const [convertFormat, setConvertFormat] = useState<(typeof CONVERT_FORMATS)[number]>("mp4");
  const [model, setModel] = useState("");
  const [phase, setPhase] = useState<"picking" | "uploading" | "creating" | "stuck">("picking");
  const [dragging, setDragging] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const ids = { language: useId(), engines: useId(), format: useId(), model: useId(), operation: useId() };

  // A file dropped beside the drop zone would otherwise make the browser leave the page to open it.
  useEffect(() => {
    const ignore = (event: DragEvent) => event.preventDefault();
    window.addEventListener("dragover", ignore);
    window.addEventListener("drop", ignore);
    return () => {
      window.removeEventListener("dragover", ignore);
      window.removeEventListener("drop", ignore);
    };
  }, []);

  const update = useCallback((key: string, patch: Partial<Item>) => setItems((list) => list.map((item) => (item.key === key ? { ...item, ...patch } : item))), []);

  const addFiles = (picked: PickedFile[]) => {
    setItems((list) => {
      const known = new Set(list.map((item) => item.key));
      const added = picked
        .map((entry) => ({ key: `${entry.path}:${entry.file.size}:${entry.file.lastModified}`, picked: entry, state: "ready" as const, loaded: 0 }))
        .filter((item) => !known.has(item.key) && (known.add(item.key), true));
      return [...list, ...added];
    });
  };

  const accepted = items.filter((item) => rejectReason(item.picked.file, operation) === null);
  const rejectedCount = items.length - accepted.length;
  const totalBytes = accepted.reduce((sum, item) => sum + item.picked.file.size, 0);
  const loadedBytes = accepted.reduce((sum, item) => sum + item.loaded, 0);
  const failed = accepted.filter((item) => item.state === "failed");
  const busy = phase === "uploading" || phase === "creating";
  const languages = capacity.data?.engine?.languages ?? [];
  const maxEngines = capacity.data?.maxEngines ?? 1;

  const uploadOne = async (item: Item, signal: AbortSignal) => {
    for (let attempt = 1; ; attempt += 1) {
      update(item.key, { state: "uploading", loaded: 0, error: undefined });
      try {
        const media = await uploadFile(item.picked.file, (loaded) => update(item.key, { loaded }), signal);
        update(item.key, { state: "uploaded", mediaId: media.id, loaded: item.picked.file.size });
        return media.id;
      } catch (error) {
        const retry = error instanceof UploadError && error.retryable && attempt < ATTEMPTS_PER_FILE && !signal.aborted;
        if (!retry) {
          update(item.key, { state: "failed", loaded: 0, error: errorMessage(error) });
          return null;
        }
        await sleep(1_000 * attempt);
      }
    }
  };

  const submitBatch = async (mediaIds: string[]) => {
    setPhase("creating");
    const type = OPERATIONS.find((op) => op.value === operation)!.batchType;
    try {
      const batch = await createBatch.mutateAsync({
        mediaFileIds: mediaIds,
        type,
        language,
        parallelEngines: engines,
        ...(type === "batch_convert" ? { convert: { format: convertFormat } } : {}),
        ...(type === "batch_fix_srt" && model.trim() ? { model: model.trim() } : {}),
      });
      router.push(`/batches/${encodeURIComponent(batch.id)}`);
    } catch {
      setPhase("stuck");
    }
  };

  const start = async () => {
    setNotice(null);
    // Files uploaded on an earlier try keep their media; only the rest are sent.
    const mediaIds = new Map(accepted.filter((item) => item.mediaId).map((item) => [item.key, item.mediaId!]));
    const pending = accepted.filter((item) => !item.mediaId);
    const controller = new AbortController();
    abort.current = controller;
    setPhase("uploading");
    let failures = 0;
    await eachLimited(pending, CONCURRENT_UPLOADS, async (item) => {
      if (controller.signal.aborted) return;
      const mediaId = await uploadOne(item, controller.signal);
      if (mediaId) mediaIds.set(item.key, mediaId);
      else failures += 1;
    });
    if (controller.signal.aborted) {
      setPhase("picking");
      setNotice("Upload cancelled. Files already uploaded are kept; start again to send the rest.");
      return;
    }
    if (failures > 0) {
      setPhase("stuck");
      return;
    }
    // The batch lists files in the order they were chosen.
    await submitBatch(accepted.map((item) => mediaIds.get(item.key)!));
  };

  const uploadedIds = accepted.filter((item) => item.state === "uploaded").map((item) => item.mediaId!);

  return (
    <>
      <h1>Upload</h1>
      <section aria-labelledby="files-heading" className="card">
        <h2 id="files-heading">Files</h2>
        <div
          className={`dropzone ${dragging ? "dropzone-active" : ""}`}
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            if (busy) return;
            void filesFromDrop(event.dataTransfer).then(addFiles);
          }}
        >
          <p>Drop files or folders here, or</p>
          <div className="actions">
            <button type="button" disabled={busy} onClick={() => filesInput.current?.click()}>
              Choose files
            </button>
            <button type="button" className="button-secondary" disabled={busy} onClick={() => folderInput.current?.click()}>
              Choose a folder
            </button>
          </div>
          <input
            ref={filesInput}
            className="visually-hidden"
            type="file"
            multiple
            accept={ACCEPT_ATTRIBUTE}
            aria-label="Files to upload"
            tabIndex={-1}
            onChange={(event) => {
              addFiles(filesFromInput(event.target.files));
              event.target.value = "";
            }}
          />
          <input
            ref={folderInput}
            className="visually-hidden"
            type="file"
            aria-label="Folder to upload"
            tabIndex={-1}
            // React has no typed prop for directory picking; these are what browsers read.
            {...{ webkitdirectory: "", directory: "" }}
            onChange={(event) => {
              addFiles(filesFromInput(event.target.files));
              event.target.value = "";
            }}
          />
        </div>

        {items.length === 0 ? (
          <p className="muted">No files chosen yet.</p>
        ) : (
          <>
            <div className="total-progress">
              <p id="total-label">
                {accepted.length} file{accepted.length === 1 ? "" : "s"} to upload, {formatBytes(totalBytes)}
                {rejectedCount ? `; ${rejectedCount} will be skipped` : ""}
              </p>
              <ProgressBar value={totalBytes ? loadedBytes / totalBytes : 0} label="Total upload progress" />
            </div>
            <ul className="file-list" aria-label="Chosen files">
              {visibleItems(items, operation).map((item) => {
                const reason = rejectReason(item.picked.file, operation);
                return (
                  <li key={item.key} className={reason ? "file-rejected" : `file-${item.state}`} data-file={item.picked.path}>
                    <span className="file-name">{item.picked.path}</span>
                    <span className="muted small">{formatBytes(item.picked.file.size)}</span>
                    {reason ? (
                      <span className="flag">Unsupported: {reason}</span>
                    ) : (
                      <ProgressBar value={item.picked.file.size ? item.loaded / item.picked.file.size : 0} label={`Upload of ${item.picked.path}`} status={item.state === "failed" ? "failed" : item.state === "uploaded" ? "done" : undefined} />
                    )}
                    <span className="file-state" aria-live="polite">
                      {item.state === "failed" ? <span className="error-text">{item.error}</span> : reason ? null : item.state}
                    </span>
                    <button type="button" className="button-link" disabled={busy} onClick={() => setItems((list) => list.filter((other) => other.key !== item.key))} aria-label={`Remove ${item.picked.path}`}>
                      Remove
                    </button>
                  </li>
                );
              })}
            </ul>
            {items.length > MAX_LISTED ? <p className="muted small">…and {items.length - MAX_LISTED} more files (the progress bar above counts them all).</p> : null}
          </>
        )}
      </section>

      <section aria-labelledby="options-heading" className="card">
        <h2 id="options-heading">What to do</h2>
        <fieldset className="operations" disabled={busy}>
          <legend>Operation</legend>
          {OPERATIONS.map((op) => (
            <label key={op.value} className="radio-card">
              <input type="radio" name="operation" value={op.value} checked={operation === op.value} onChange={() => setOperation(op.value)} />
              <span>
                <strong>{op.label}</strong>
                <span className="muted small">{op.hint}</span>
              </span>
            </label>
          ))}
        </fieldset>
        <div className="filters">
          {operation === "transcript" || operation === "srt" ? (
            <>
              <div className="field">
                <label htmlFor={ids.language}>Language</label>
                <select id={ids.language} value={language} disabled={busy} onChange={(event) => setLanguage(event.target.value)}>
                  {(languages.length ? languages : ["en"]).map((code) => (
                    <option key={code} value={code}>
                      {code}
                    </option>
                  ))}
                  {languages.length > 1 ? <option value="auto">Detect automatically</option> : null}
                </select>
              </div>
              <div className="field">
                <label htmlFor={ids.engines}>Engines per file</label>
                <input id={ids.engines} type="number" min={1} max={maxEngines} value={engines} disabled={busy} onChange={(event) => setEngines(Math.max(1, Math.min(maxEngines, Number(event.target.value) || 1)))} />
              </div>
            </>
          ) : null}
          {operation === "convert" ? (
            <div className="field">
              <label htmlFor={ids.format}>Output format</label>
              <select id={ids.format} value={convertFormat} disabled={busy} onChange={(event) => setConvertFormat(event.target.value as (typeof CONVERT_FORMATS)[number])}>
                {CONVERT_FORMATS.map((format) => (
                  <option key={format} value={format}>
                    {format === "mp4" ? "MP4 video (H.264/AAC)" : `${format} audio`}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          {operation === "fix" ? (
            <div className="field">
              <label htmlFor={ids.model}>LLM model (optional)</label>
              <input id={ids.model} type="text" placeholder="server default" value={model} disabled={busy} onChange={(event) => setModel(event.target.value)} />
            </div>
          ) : null}
        </div>
      </section>

      <div className="submit-bar">
        {phase === "uploading" ? (
          <button type="button" className="button-secondary" onClick={() => abort.current?.abort()}>
            Cancel upload
          </button>
        ) : null}
        <button type="button" disabled={busy || accepted.length === 0} onClick={() => void start()}>
          {phase === "uploading" ? "Uploading…" : phase === "creating" ? "Creating batch…" : failed.length ? `Retry ${failed.length} failed upload${failed.length === 1 ? "" : "s"}` : `Upload and start (${accepted.length})`}
        </button>
        {phase === "stuck" && failed.length > 0 && uploadedIds.length > 0 ? (
          <button type="button" className="button-secondary" onClick={() => void submitBatch(uploadedIds)}>
            Start without the {failed.length} failed
          </button>
        ) : null}
      </div>
      <div aria-live="polite">
        {notice ? <p className="callout">{notice}</p> : null}
        {phase === "stuck" && failed.length > 0 ? (
          <p className="callout callout-error" role="alert">
            {failed.length} file{failed.length === 1 ? "" : "s"} could not be uploaded; the others are uploaded. Retry them, or start without them.
          </p>
        ) : null}
        {createBatch.error ? (
          <p className="callout callout-error" role="alert">
            Could not create the batch: {errorMessage(createBatch.error)}
          </p>
        ) : null}
      </div>
      <p className="muted small">
        For folders of thousands of files, <code>transcribe-cli upload &lt;folder&gt; --wait</code> resumes where it stopped (see the README).
      </p>
    </>
  );
}
