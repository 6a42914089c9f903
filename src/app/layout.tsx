import type { ReactNode } from "react";
// The font ships inside the npm package and is served by Next from our own origin:
// next/font/google would fetch from Google at build time, which fails offline.
import "@fontsource-variable/inter";
import "./globals.css";
import { Providers } from "../ui/providers";
import { SiteNav } from "../ui/site-nav";

export const metadata = {
  title: "Transcribe",
  description: "Self-hosted batch transcription",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <Providers>
          <SiteNav />
          <main id="main" tabIndex={-1}>
            {children}
          </main>
        </Providers>
      </body>
    </html>
  );
}
