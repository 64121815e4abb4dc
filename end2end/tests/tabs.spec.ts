import { expect, test } from "@playwright/test";

import { readState } from "../harness/state";

// The suite's server issues 30-second access tokens (harness/global-setup.ts).
test("two tabs of one session keep working across access-token expiry, without a reuse alarm", async ({ browser }) => {
  test.setTimeout(120_000);
  const context = await browser.newContext();
  const first = await context.newPage();
  await first.goto("/login");
  await expect(first.locator("body[data-hydrated=true]")).toHaveCount(1);
  await first.getByLabel("Username or e-mail").fill("admin");
  await first.getByLabel("Password").fill(readState().adminPassword);
  await first.getByRole("button", { name: "Sign in" }).click();
  await expect(first.getByTestId("username")).toHaveText("admin");

  const second = await context.newPage();
  await second.goto("/devices");
  await expect(second.locator("body[data-hydrated=true]")).toHaveCount(1);

  const accessCookie = async () =>
    (await context.cookies()).find((c) => c.name === "__Host-fin_access")?.value;
  const initial = await accessCookie();

  // Two lifetimes and more, with both tabs open and idle: the pages refresh on their own.
  await first.waitForTimeout(65_000);
  const later = await accessCookie();
  expect(later).toBeTruthy();
  expect(later).not.toBe(initial);

  // Both tabs still work through client-side navigation (server functions, no reload)...
  for (const page of [first, second]) {
    await page.getByRole("link", { name: "Devices" }).click();
    await expect(page).toHaveURL(/\/devices$/);
    await expect(page.locator("[data-testid=session-row][data-current=true]")).toHaveCount(1);
  }
  // ...and the session was never revoked: a refresh_token_reused alarm revokes the family,
  // after which the server refuses it outright.
  const response = await first.request.post("/api/auth/refresh");
  expect(response.status()).toBe(200);
  await context.close();
});
