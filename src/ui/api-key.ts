"use client";

import { useSyncExternalStore } from "react";

// With API_KEYS configured on the server, every API call needs a bearer key. The dashboard
// keeps the one the user typed in localStorage (per browser, never sent anywhere else).
const STORAGE_KEY = "transcribe.apiKey";
const listeners = new Set<() => void>();

export function readApiKey(): string | null {
  if (typeof window === "undefined") return null;
  return window.localStorage.getItem(STORAGE_KEY);
}

export function saveApiKey(key: string | null): void {
  if (key) window.localStorage.setItem(STORAGE_KEY, key);
  else window.localStorage.removeItem(STORAGE_KEY);
  for (const listener of listeners) listener();
}

/** Headers for a fetch or XHR to the API. */
export function authHeaders(): Record<string, string> {
  const key = readApiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** A media URL a <audio>/<video> element can load: elements cannot send headers, so the key rides in the query. */
export function mediaContentUrl(mediaId: string, disposition: "inline" | "attachment" = "inline"): string {
  const params = new URLSearchParams({ disposition });
  const key = readApiKey();
  if (key) params.set("access_token", key);
  return `/api/media/${encodeURIComponent(mediaId)}/content?${params.toString()}`;
}

export function useApiKey(): string | null {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    readApiKey,
    () => null,
  );
}
