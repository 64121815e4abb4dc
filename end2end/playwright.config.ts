import { defineConfig, devices } from "@playwright/test";

import { chromiumArgs, chromiumPath } from "./harness/chromium";

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
          executablePath: chromiumPath,
          args: chromiumArgs,
        },
      },
    },
  ],
});
