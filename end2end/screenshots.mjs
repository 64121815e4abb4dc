// Takes the README's screenshots (docs/screenshots/*.png) from a real server on a fresh
// database, with activity from around the world. Run after `cargo leptos build`:
//
//     node end2end/screenshots.mjs
//
// Not part of the test suite: pictures are for people, and the suite checks behaviour.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "@playwright/test";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const port = process.env.FIN_SHOTS_PORT ?? "8030";
const base = `http://127.0.0.1:${port}`;
const out = path.join(root, "docs", "screenshots");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fin-shots-"));

const server = spawn(path.join(root, "target", "debug", "fin-intelli"), ["serve"], {
  cwd: root,
  env: {
    PATH: process.env.PATH ?? "",
    RUST_LOG: "warn",
    DATABASE_URL: `sqlite:${path.join(tmp, "shots.db")}`,
    LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
    LEPTOS_SITE_ROOT: path.join(root, "target", "site"),
    LEPTOS_ENV: "PROD",
    FIN_TRUSTED_PROXIES: "127.0.0.1/32",
  },
  stdio: ["ignore", "pipe", "inherit"],
});

try {
  const adminPassword = await new Promise((resolve, reject) => {
    let seen = "";
    setTimeout(() => reject(new Error("no admin password within 60 s")), 60_000);
    server.stdout.on("data", (chunk) => {
      seen += chunk.toString();
      const match = /password: (\S+)/.exec(seen);
      if (match) resolve(match[1]);
    });
  });
  await waitForGeolocation();

  const api = async (url, body, ip, token) => {
    const response = await fetch(`${base}${url}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-forwarded-for": ip,
        "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return response.json();
  };
  const admin = await api("/api/auth/login", { username: "admin", password: adminPassword, refresh_delivery: "body" }, "81.2.69.142");
  for (const name of ["alice", "bob", "chen", "dara"]) {
    await api("/api/admin/users", { username: name, email: `${name}@example.com`, password: `${name} has a long passphrase`, is_admin: false }, "81.2.69.142", admin.access_token);
  }
  const signIn = (name, ip, password = `${name} has a long passphrase`) =>
    api("/api/auth/login", { username: name, password, refresh_delivery: "body" }, ip);
  await signIn("alice", "81.2.69.142");
  await signIn("bob", "8.8.8.8");
  await signIn("chen", "1.1.1.1");
  await signIn("dara", "77.88.8.8", "not her password");
  await signIn("dara", "77.88.8.8", "still not it");

  const browser = await chromium.launch({
    executablePath: process.env.FIN_E2E_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
  });
  for (const scheme of ["light", "dark"]) {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 1100 },
      colorScheme: scheme,
      extraHTTPHeaders: { "x-forwarded-for": "81.2.69.142" },
    });
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.locator("body[data-hydrated=true]").waitFor();
    await page.getByLabel("Username or e-mail").fill("admin");
    await page.getByLabel("Password").fill(adminPassword);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByTestId("username").waitFor();
    await page.goto(`${base}/admin/live`);
    await page.locator("[data-testid=connection][data-state=live]").waitFor();
    if (scheme === "light") {
      // Live: alice appears in Sydney minutes after London.
      await signIn("alice", "1.1.1.1");
      await signIn("bob", "200.160.2.3");
    }
    await page.locator("[data-testid=live-row][data-user=alice]").nth(1).waitFor();
    await page.locator("[data-testid=live-row][data-user=alice][data-event=login_succeeded]").first().click();
    await page.getByTestId("review-reasons").waitFor();
    await page.screenshot({ path: path.join(out, scheme === "light" ? "live.png" : "live-dark.png"), fullPage: true });
    if (scheme === "light") {
      await page.goto(`${base}/devices`);
      await page.getByTestId("session-row").first().waitFor();
      await page.screenshot({ path: path.join(out, "devices.png"), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${base}/admin/live`);
      await page.locator("[data-testid=connection][data-state=live]").waitFor();
      await page.screenshot({ path: path.join(out, "live-phone.png"), fullPage: false });
    }
    await context.close();
  }
  await browser.close();
  console.log(`screenshots written to ${out}`);
} finally {
  server.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function waitForGeolocation() {
  for (let i = 0; i < 120; i++) {
    try {
      const health = await (await fetch(`${base}/healthz`)).json();
      if (!health.geolocation.loading && health.geolocation.city_databases > 0) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("geolocation did not load");
}
