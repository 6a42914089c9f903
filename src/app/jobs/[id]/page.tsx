import { JobPage } from "../../../ui/job/job-page";

export const metadata = { title: "Job · Transcribe" };

export default async function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <JobPage id={decodeURIComponent(id)} />;
}
