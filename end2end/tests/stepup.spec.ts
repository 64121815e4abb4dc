import { createHmac } from "node:crypto";

import { expect, test, type Browser } from "@playwright/test";

import { readState, STEPPER } from "../harness/state";

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as an authenticator app computes it.
function totp(secretBase32: string, at = Date.now()): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secretBase32.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from((bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const digest = createHmac("sha1", key).update(counter).digest();
  const offset = digest[19] & 0xf;
  return ((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).toString().padStart(6, "0");
}

async function openAs(browser: Browser, ip: string, userAgent?: string) {
  const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": ip }, ...(userAgent ? { userAgent } : {}) });
  const page = await context.newPage();
  await page.goto("/login");
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  return { context, page };
}

async function fillSignIn(page: import("@playwright/test").Page, username: string, password: string) {
  await page.getByLabel("Username or e-mail").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

test("enrol TOTP, step up a far-away sign-in with the code, and lose a session to a foreign refresh", async ({ browser }) => {
  // Up to one 30-second TOTP step is spent waiting for a fresh code.
  test.setTimeout(90_000);
  // At home: sign in and turn on two-step verification.
  const home = await openAs(browser, "81.2.69.142");
  await fillSignIn(home.page, STEPPER.username, STEPPER.password);
  await expect(home.page.getByTestId("username")).toHaveText(STEPPER.username);
  await home.page.goto("/security");
  await expect(home.page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await home.page.getByRole("button", { name: "Set up an authenticator app" }).click();
  await expect(home.page.locator(".qr svg")).toHaveCount(1);
  const secret = (await home.page.getByTestId("totp-secret").textContent()) ?? "";
  await home.page.getByLabel("The 6-digit code the app shows").fill(totp(secret));
  await home.page.getByRole("button", { name: "Turn on" }).click();
  await expect(home.page.getByTestId("recovery-codes").locator("li")).toHaveCount(10);
  await expect(home.page.getByTestId("totp-on")).toBeVisible();

  // Far away, in a browser the account has never used: the sign-in asks for the code.
  // This browser cannot bind a device key (as where WebCrypto storage is refused), so its
  // session is a bearer one and the behaviour model alone must catch the thief below.
  const away = await openAs(browser, "1.1.1.1");
  await away.context.route("**/api/auth/device-key", (route) => route.abort());
  await fillSignIn(away.page, STEPPER.username, STEPPER.password);
  const code = away.page.getByLabel("Authentication code");
  await expect(code).toBeVisible();
  // The enrolment spent this step's code: wait for the next one, as a person would.
  const stepEnds = 30_000 - (Date.now() % 30_000);
  await away.page.waitForTimeout(stepEnds + 500);
  await code.fill(totp(secret));
  await away.page.getByRole("button", { name: "Verify" }).click();
  await expect(away.page.getByTestId("username")).toHaveText(STEPPER.username);

  // The far-away session's refresh token, stolen into another browser on another
  // continent without the device cookie: the refresh ends the session.
  const refresh = (await away.context.cookies()).find((c) => c.name.endsWith("fin_refresh"));
  expect(refresh).toBeDefined();
  const thief = await browser.newContext({
    extraHTTPHeaders: { "X-Forwarded-For": "8.8.8.8" },
    userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
  });
  await thief.addCookies([refresh!]);
  const stolen = await thief.request.post("/api/auth/refresh");
  expect(stolen.status()).toBe(401);
  expect((await stolen.json()).error).toBe("session_blocked");
  // The owner's far-away browser is out too: its session is over.
  await away.page.goto("/devices");
  await expect(away.page).toHaveURL(/\/login/);

  // The admin sees the blocked refresh in the activity log.
  const admin = await openAs(browser, "127.0.0.1");
  await fillSignIn(admin.page, "admin", readState().adminPassword);
  await expect(admin.page.getByTestId("username")).toHaveText("admin");
  await admin.page.goto(`/admin/activity?user=${STEPPER.username}&event_type=refresh`);
  const blocked = admin.page.locator("[data-testid=activity-row][data-event=refresh]").filter({ hasText: "block" });
  await expect(blocked).toHaveCount(1);
  await expect(blocked.getByTestId("reasons")).toContainText("session device changed");

  for (const c of [home.context, away.context, thief, admin.context]) await c.close();
});
