import { expect, test, type Browser } from "@playwright/test";

import { readState } from "../harness/state";

// Signs in as admin in a fresh browser whose requests arrive "from" `ip` (the server trusts
// the local proxy hop the suite simulates with X-Forwarded-For).
async function signInFrom(browser: Browser, ip: string) {
  const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": ip } });
  const page = await context.newPage();
  await page.goto("/login");
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await page.getByLabel("Username or e-mail").fill("admin");
  await page.getByLabel("Password").fill(readState().adminPassword);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("username")).toHaveText("admin");
  return { context, page };
}

test("My activity shows sign-ins from two places, on the list and on the map", async ({ browser }) => {
  const london = await signInFrom(browser, "81.2.69.142");
  const sydney = await signInFrom(browser, "1.1.1.1");

  await sydney.page.goto("/activity");
  await expect(sydney.page.locator("body[data-hydrated=true]")).toHaveCount(1);
  const signIns = sydney.page.locator("[data-testid=activity-row][data-event=login_succeeded]");
  await expect(signIns.filter({ hasText: "London, GB" })).not.toHaveCount(0);
  await expect(signIns.filter({ hasText: "Sydney, AU" })).not.toHaveCount(0);
  // Newest first: the Sydney sign-in is the top row.
  await expect(sydney.page.getByTestId("activity-row").first()).toContainText("Sydney, AU");
  const map = sydney.page.getByTestId("world-map");
  await expect(map).toHaveAttribute("aria-label", /London, GB/);
  await expect(map).toHaveAttribute("aria-label", /Sydney, AU/);
  await expect(map.locator("circle.dot")).toHaveCount(2);
  await expect(sydney.page.locator("footer a[href='https://db-ip.com']")).toHaveText("IP Geolocation by DB-IP");

  await london.context.close();
  await sydney.context.close();
});

test("the admin activity search filters by event type and exports the same rows as CSV", async ({ browser }) => {
  const { context, page } = await signInFrom(browser, "8.8.8.8");
  await page.goto("/admin/activity");
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await page.getByLabel("Event").selectOption("login_succeeded");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page).toHaveURL(/event_type=login_succeeded/);
  const rows = page.getByTestId("activity-row");
  await expect(rows.first()).toContainText("Mountain View, US");
  const shown = await rows.count();
  expect(shown).toBeGreaterThan(0);
  expect(await page.locator("[data-testid=activity-row]:not([data-event=login_succeeded])").count()).toBe(0);

  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Export CSV" }).click();
  const csv = await (await download).path().then((p) => require("node:fs").readFileSync(p, "utf8"));
  const lines = csv.trim().split(/\r\n/);
  expect(lines[0]).toMatch(/^id,created_at,user_id,username,event_type/);
  expect(lines.length - 1).toBe(shown);
  expect(lines.slice(1).every((l: string) => l.split(",")[4] === "login_succeeded")).toBe(true);
  await context.close();
});
