import { expect, test, type Page } from "@playwright/test";

import { readState } from "../harness/state";

// The WASM app sets data-hydrated on <body> once it has taken over the server's HTML.
async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
}

test("the admin signs in with the password printed on first start, and signs out", async ({ page }) => {
  const { adminPassword } = readState();
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Username or e-mail").fill("admin");
  await page.getByLabel("Password").fill(adminPassword);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();

  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("username")).toHaveText("admin");
  await expect(page.getByTestId("role")).toHaveText("admin");
  // The admin's links show right after the in-app sign-in, without a reload.
  await expect(page.getByTestId("admin-links")).toBeVisible();

  // A full reload renders signed in on the server: the session lives in cookies, not in JS.
  await page.reload();
  await expect(page.getByTestId("username")).toHaveText("admin");
  const cookies = await page.context().cookies();
  const refresh = cookies.find((c) => c.name === "__Secure-fin_refresh");
  expect(refresh?.httpOnly).toBe(true);
  expect(refresh?.secure).toBe(true);
  expect(refresh?.sameSite).toBe("Strict");
  // Scripts see no session cookie (at most the readable binding marker, which holds no secret).
  expect(await page.evaluate(() => document.cookie)).not.toMatch(/fin_(access|refresh|device)/);

  // When the short-lived access cookie is gone, a reload resumes the session through the
  // refresh cookie and still lands signed in on the same page.
  await page.context().clearCookies({ name: "__Host-fin_access" });
  await page.reload();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("username")).toHaveText("admin");

  await hydrated(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
});

test("a wrong password shows the error without reloading the page", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  // A reload would wipe this marker.
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  await page.getByLabel("Username or e-mail").fill("admin");
  await page.getByLabel("Password").fill("definitely not the password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();

  await expect(page.getByRole("alert")).toHaveText("Invalid username or password");
  expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
  await expect(page).toHaveURL(/\/login$/);
});

test("home sends a visitor without a session to the sign-in page", async ({ page }) => {
  const response = await page.goto("/");
  expect(response?.ok()).toBe(true);
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
});
