import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // `npm run typecheck` (part of `npm test`) checks the whole project once; the build
  // skips its own pass so `npm start` on a fresh machine stays well under two minutes.
  typescript: { ignoreBuildErrors: true },
  // The API server (src/server) runs beside Next, not inside it; keep native modules out of bundles.
  serverExternalPackages: ["better-sqlite3", "onnxruntime-node", "@prisma/client"],
  poweredByHeader: false,
};

export default nextConfig;
