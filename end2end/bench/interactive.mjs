// How long the home page takes to become interactive in Chromium, for `make bench`:
// navigation start to the moment the WASM app has hydrated the server's HTML (it sets
// data-hydrated on <body>). Each run is a cold load in a fresh browser context (no cache),
// on loopback. Prints one JSON line: {"runs_ms": [...], "transferred_bytes": N}.
//
//   node end2end/bench/interactive.mjs http://127.0.0.1:8040 10
import { chromium } from "@playwright/test";

const [base, runsArg] = process.argv.slice(2);
if (!base) {
  console.error("usage: interactive.mjs BASE_URL [RUNS]");
  process.exit(2);
}
const runs = Number(runsArg ?? 10);
const browser = await chromium.launch({
  executablePath: process.env.FIN_E2E_CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});
const times = [];
let transferred = 0;
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Stamped by the page itself the moment hydration marks <body>, so no polling delay
    // is counted.
    await page.addInitScript(() => {
      new MutationObserver((_, observer) => {
        if (document.body?.dataset.hydrated === "true") {
          window.__finInteractive = performance.now();
          observer.disconnect();
        }
      }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-hydrated"] });
    });
    await page.goto(`${base}/`, { waitUntil: "commit" });
    await page.waitForFunction(() => window.__finInteractive !== undefined, null, { timeout: 30_000 });
    times.push(await page.evaluate(() => window.__finInteractive));
    if (i === 0) {
      transferred = await page.evaluate(() =>
        performance
          .getEntriesByType("resource")
          .concat(performance.getEntriesByType("navigation"))
          .reduce((sum, e) => sum + (e.transferSize || 0), 0),
      );
    }
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ runs_ms: times, transferred_bytes: transferred }));
