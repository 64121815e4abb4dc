// Real DBSC (W3C Device Bound Session Credentials) in Debian's Chromium: the browser makes
// the key (a software key: Linux has no platform key store DBSC uses; Chromium's "software
// keys for manual testing" switch stands in for it), registers it with the sign-in, and
// renews the bound access cookie itself when it lapses. Chromium 156 registers only over
// HTTPS, so this goes through the suite's HTTPS front with a certificate it trusts by key.
import { chromium, expect, test } from "@playwright/test";

import { chromiumArgs, chromiumPath } from "../harness/chromium";
import { readState } from "../harness/state";

test("Chromium registers its DBSC key with the sign-in and renews through it; the copied jar cannot", async ({ browser }) => {
  test.setTimeout(120_000);
  const { tlsURL, tlsSpki, adminPassword } = readState();
  const dbsc = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Playwright's own --enable-features would replace ours.
    ignoreDefaultArgs: ["--enable-features"],
    args: [
      ...chromiumArgs,
      // The refresh quota off, as Chromium's developer setting (chrome://flags) has it. The
      // suite's access cookie lives 30 s, less than Chromium's proactive-refresh threshold,
      // so Chromium renews ahead of nearly every request; with the quota on, those renewals
      // use it up within seconds and the lapsed cookie would go unrenewed. A production
      // cookie (15 minutes) is renewed ahead once per lifetime.
      "--enable-features=DeviceBoundSessions:RefreshQuota/false,EnableBoundSessionCredentialsSoftwareKeysForManualTesting",
      `--ignore-certificate-errors-spki-list=${tlsSpki}`,
    ],
  });
  const context = await dbsc.newContext({ baseURL: tlsURL });
  const page = await context.newPage();
  await page.goto("/login");
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await page.getByLabel("Username or e-mail").fill("admin");
  await page.getByLabel("Password").fill(adminPassword);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("username")).toHaveText("admin");

  // The browser answered the sign-in's Secure-Session-Registration in the background: the
  // registration's answer set the page's marker, and the session is bound to its key.
  const cookie = async (name: string) => (await context.cookies()).find((c) => c.name === name);
  await expect.poll(async () => (await cookie("__Host-fin_dbsc"))?.value, { timeout: 15_000 }).toBe("1");
  await page.goto("/devices");
  await expect(page.locator("[data-testid=session-row][data-current=true] [data-testid=device-bound]")).toHaveCount(1);

  // Every cookie copied into a browser without the key renews nothing.
  const thief = await browser.newContext({ baseURL: tlsURL, ignoreHTTPSErrors: true });
  await thief.addCookies(await context.cookies());
  const stolen = await thief.request.post("/api/auth/refresh");
  expect(stolen.status()).toBe(401);
  expect((await stolen.json()).error).toBe("device_proof_required");
  await thief.close();

  // The access cookie lives 30 s here. Once it lapses, Chromium holds the next request back,
  // proves its key at the session's refresh_url, gets a fresh cookie and only then sends the
  // request: the page loads signed in, never through the sign-in page.
  const before = (await cookie("__Host-fin_access"))?.value;
  await page.waitForTimeout(33_000);
  await page.goto("/devices");
  await expect(page).toHaveURL(/\/devices$/);
  await expect(page.locator("[data-testid=session-row][data-current=true] [data-testid=device-bound]")).toHaveCount(1);
  const after = (await cookie("__Host-fin_access"))?.value;
  expect(after).toBeTruthy();
  expect(after).not.toBe(before);
  await dbsc.close();
});
