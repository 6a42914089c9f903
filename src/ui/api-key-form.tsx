"use client";

import { useId, useState } from "react";
import { saveApiKey, useApiKey } from "./api-key";

export function ApiKeyForm({ onSaved }: { onSaved?: (() => void) | undefined }) {
  const current = useApiKey();
  const [value, setValue] = useState(current ?? "");
  const id = useId();
  return (
    <form
      className="inline-form"
      onSubmit={(event) => {
        event.preventDefault();
        saveApiKey(value.trim() || null);
        onSaved?.();
      }}
    >
      <label htmlFor={id}>API key</label>
      <input id={id} type="password" autoComplete="off" value={value} onChange={(event) => setValue(event.target.value)} />
      <button type="submit">Save key</button>
    </form>
  );
}
