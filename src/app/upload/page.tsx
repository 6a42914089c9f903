import { UploadPage } from "../../ui/upload/upload-page";

export const metadata = { title: "Upload · Transcribe" };

export default function Page() {
  return <UploadPage />;
}
