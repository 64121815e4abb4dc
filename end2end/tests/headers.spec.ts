import { expect, test, type Page } from "@playwright/test";

import { readState } from "../harness/state";

// Chromium reports every Content-Security-Policy refusal on the console.
function watchForViolations(page: Page): string[] {
  const violations: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}

test("pages are served under a strict policy and every page still works under it", async ({ page }) => {
  const violations = watchForViolations(page);
  const response = await page.goto("/login");
  const headers = response!.headers();
  const policy = headers["content-security-policy"];
  expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/]+=*' 'wasm-unsafe-eval';/);
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).toContain("object-src 'none'");
  expect(policy).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["x-frame-options"]).toBe("DENY");
  expect(headers["referrer-policy"]).toBe("no-referrer");

  // The WASM app hydrates under the policy, signs in and navigates.
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await page.getByLabel("Username or e-mail").fill("admin");
  await page.getByLabel("Password").fill(readState().adminPassword);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("username")).toHaveText("admin");
  for (const path of ["/activity", "/devices", "/security", "/admin/activity", "/admin/users", "/admin/live"]) {
    await page.goto(path);
    await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  }
  // The live page's stream connects under `connect-src 'self'`.
  await expect(page.getByTestId("connection")).toHaveText("Live");

  // Nothing the app itself does was refused.
  expect(violations).toEqual([]);

  // An inline script without the nonce, as an injection would add it, does not run.
  const injected = await page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.__injected = true;";
    document.body.appendChild(script);
    return (window as unknown as { __injected?: boolean }).__injected === true;
  });
  expect(injected).toBe(false);
  await expect.poll(() => violations.length).toBe(1);
  expect(violations[0]).toMatch(/inline script/i);
});
