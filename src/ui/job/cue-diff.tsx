import { diffWords } from "./word-diff";

export type CueChange = { index: number; before: string; after: string };

/** The LLM's corrections, cue by cue, with removed and added words marked. */
export function CueDiff({ changes, cues }: { changes: readonly CueChange[]; cues: number }) {
  if (changes.length === 0) return <p className="muted">The model changed none of the {cues} cues.</p>;
  return (
    <div className="table-scroll">
      <table className="diff-table">
        <caption>
          {changes.length} of {cues} cues changed
        </caption>
        <thead>
          <tr>
            <th scope="col">Cue</th>
            <th scope="col">Before</th>
            <th scope="col">After</th>
          </tr>
        </thead>
        <tbody>
          {changes.map((change) => {
            const parts = diffWords(change.before, change.after);
            return (
              <tr key={change.index}>
                <td>{change.index}</td>
                <td className="diff-before">
                  {parts.map((part, i) =>
                    part.kind === "added" ? null : part.kind === "removed" ? <del key={i}>{part.text}</del> : <span key={i}>{part.text}</span>,
                  )}
                </td>
                <td className="diff-after">
                  {parts.map((part, i) =>
                    part.kind === "removed" ? null : part.kind === "added" ? <ins key={i}>{part.text}</ins> : <span key={i}>{part.text}</span>,
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
