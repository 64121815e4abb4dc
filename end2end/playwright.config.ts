import { defineConfig, devices } from "@playwright/test";

// The browser comes from Debian (`apt-get install chromium`): Playwright's own downloads
// cannot reach their CDN from these machines. The flags keep Chromium from dialling Google
// services, whose connections this network refuses, and let it run as root in CI.
const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./harness/global-setup.ts",
  globalTeardown: "./harness/global-teardown.ts",
  // Two cores: the server and one browser at a time keep timings honest.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: {
    baseURL: process.env.FIN_E2E_BASE_URL ?? "http://127.0.0.1:8010",
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath: process.env.FIN_E2E_CHROMIUM ?? "/usr/bin/chromium",
          args: chromiumArgs,
        },
      },
    },
  ],
});
