import Link from "next/link";
import { Suspense } from "react";
import { JobsPage } from "../ui/jobs-page";
import { Loading } from "../ui/query-states";

export default function Page() {
  return (
    <>
      <div className="page-head">
        <h1>Jobs</h1>
        <Link className="button" href="/upload">
          Upload files
        </Link>
      </div>
      {/* The filters are read from the URL, which is known only in the browser. */}
      <Suspense fallback={<Loading what="jobs" />}>
        <JobsPage />
      </Suspense>
    </>
  );
}
