import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // Previews are served from <sandbox>.preview.<domain>; let the dev server accept them.
  allowedDevOrigins: ["*.preview.localhost", "*.localhost"],
};

export default nextConfig;
