// The browser comes from Debian (`apt-get install chromium`): Playwright's own downloads
// cannot reach their CDN from these machines. The flags keep Chromium from dialling Google
// services, whose connections this network refuses, and let it run as root in CI.
export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export const chromiumPath = process.env.FIN_E2E_CHROMIUM ?? "/usr/bin/chromium";
