import { CapacityPage } from "../../ui/capacity/capacity-page";

export const metadata = { title: "Capacity · Transcribe" };

export default function Page() {
  return <CapacityPage />;
}
