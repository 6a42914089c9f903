import { authHeaders } from "../api-key";

export type UploadedMedia = { id: string; originalName: string; durationS: number | null };

/** An upload that failed; `retryable` when trying again could help (network, 5xx). */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** The server's error body ({ error, detail }) as one sentence. */
function serverMessage(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; detail?: unknown };
    const parts = [parsed.error, parsed.detail].filter((part): part is string => typeof part === "string" && part.length > 0);
    if (parts.length) return parts.join(": ");
  } catch {
    // not JSON: fall through
  }
  return `HTTP ${status}`;
}

/**
 * POSTs one file to /api/uploads. XMLHttpRequest, not fetch: only XHR reports upload
 * progress in browsers. The body streams from disk; nothing is read into memory here.
 */
export function uploadFile(file: File, onProgress: (loaded: number) => void, signal: AbortSignal): Promise<UploadedMedia> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/uploads");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      if (xhr.status === 201) {
        const { media } = JSON.parse(xhr.responseText) as { media: UploadedMedia };
        onProgress(file.size);
        resolve(media);
      } else {
        reject(new UploadError(serverMessage(xhr.status, xhr.responseText), xhr.status >= 500 || xhr.status === 429));
      }
    };
    xhr.onerror = () => reject(new UploadError("Network error while uploading", true));
    xhr.onabort = () => reject(new UploadError("Upload cancelled", false));
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
