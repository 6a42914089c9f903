import { CapacityPanel } from "./capacity-panel";

/** Landing page until the full dashboard lands: live engine capacity and the API entry points. */
export default function HomePage() {
  return (
    <main>
      <h1>Transcribe</h1>
      <p>Batch transcription server. Submit media through the REST APIs or tRPC; see the README for every endpoint.</p>
      <CapacityPanel />
      <h2>Entry points</h2>
      <ul>
        <li>
          <code>POST /v2/jobs</code> — batch worker / Speechmatics v2 jobs API
        </li>
        <li>
          <code>POST /transcribe-batch-async</code> — async transcription API
        </li>
        <li>
          <code>/api/trpc</code> — typed API for the dashboard and programs
        </li>
      </ul>
    </main>
  );
}
