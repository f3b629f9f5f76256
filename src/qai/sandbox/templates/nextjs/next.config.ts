import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // The preview is served from <sandbox>.preview.<domain>, another origin than the dev
  // server's own: allow it, or Next.js blocks hot reload and its dev assets. QAI sets
  // PREVIEW_HOSTS from its preview address template.
  allowedDevOrigins: (process.env.PREVIEW_HOSTS ?? "*.preview.localhost").split(","),
};

export default nextConfig;
