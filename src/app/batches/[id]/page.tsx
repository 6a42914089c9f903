import { BatchPage } from "../../../ui/batch-page";

export const metadata = { title: "Batch · Transcribe" };

export default async function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <BatchPage id={decodeURIComponent(id)} />;
}
