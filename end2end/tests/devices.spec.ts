import { expect, test, type Browser, type BrowserContext, type Page } from "@playwright/test";

import { readState } from "../harness/state";

const FIREFOX_ON_WINDOWS =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";

async function signedIn(browser: Browser, userAgent?: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext(userAgent ? { userAgent } : {});
  const page = await context.newPage();
  await page.goto("/login");
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await page.getByLabel("Username or e-mail").fill("admin");
  await page.getByLabel("Password").fill(readState().adminPassword);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("username")).toHaveText("admin");
  return { context, page };
}

test("signing out another device from the Devices page ends that device's session", async ({ browser }) => {
  const here = await signedIn(browser);
  const there = await signedIn(browser, FIREFOX_ON_WINDOWS);

  await here.page.goto("/devices");
  await expect(here.page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await expect(here.page.locator('[data-testid=session-row][data-current=true]')).toHaveCount(1);
  const row = here.page.getByTestId("session-row").filter({ hasText: "Firefox on Windows" });
  await expect(row).toHaveCount(1);
  await row.getByRole("button", { name: "Sign out" }).click();
  await expect(here.page.getByTestId("session-row").filter({ hasText: "Firefox on Windows" })).toHaveCount(0);

  // The other browser is out: its access cookie no longer opens pages, and resuming fails.
  await there.page.reload();
  await expect(there.page).toHaveURL(/\/login$/);

  // This browser is unaffected.
  await here.page.goto("/");
  await expect(here.page.getByTestId("username")).toHaveText("admin");
  await here.context.close();
  await there.context.close();
});
