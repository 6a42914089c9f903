import { JobsPage } from "../ui/jobs-page";

export default function Page() {
  return <JobsPage />;
}
