// The static bundle (Trunk's dist/, the app rendered in the browser alone) against the same
// server: as README recommends, behind one origin with the API proxied, and alone on another
// origin of the same site, calling the API with CORS and credentials.
import { expect, test, type Browser, type Page } from "@playwright/test";

import { readState } from "../harness/state";
import { awaitKeyBound } from "../harness/pages";

// Signs the admin in on the bundle at `baseURL`; `violations` collects what the page's
// Content-Security-Policy (README's, set by the harness) refused.
async function signIn(browser: Browser, baseURL: string): Promise<{ page: Page; violations: string[] }> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  const violations: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  const response = await page.goto("/login");
  // The page is the bundle's index.html, not a server render: nothing of the app is in it
  // until the WASM renders it.
  const html = await response!.text();
  expect(html).toContain('name="fin-api-origin"');
  expect(html).not.toContain("Username or e-mail");
  expect(response!.headers()["content-security-policy"]).toContain("script-src 'self' 'sha256-");
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await page.getByLabel("Username or e-mail").fill("admin");
  await page.getByLabel("Password").fill(readState().adminPassword);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("username")).toHaveText("admin");
  await expect(page).toHaveURL(`${baseURL}/`);
  return { page, violations };
}

const thisDevice = '[data-testid=session-row][data-current=true]';

test("the static bundle signs in and opens the devices page, the API on its own origin", async ({ browser }) => {
  const { bundleURL } = readState();
  const { page, violations } = await signIn(browser, bundleURL);
  // The bundle's own stylesheet (Trunk), not the server's /pkg one.
  await expect(page.locator('link[rel=stylesheet][href^="/main-"]')).toHaveCount(1);
  await expect(page.locator('link[href^="/pkg/"]')).toHaveCount(0);

  // In the app, then as a deep link loaded whole (index.html, then the router).
  await page.getByRole("link", { name: "Devices" }).click();
  await expect(page).toHaveURL(`${bundleURL}/devices`);
  await expect(page.locator(thisDevice)).toHaveCount(1);
  await page.reload();
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await expect(page.locator(thisDevice)).toHaveCount(1);
  expect(violations).toEqual([]);
  await page.context().close();
});

test("the static bundle on another origin of the same site uses the API with credentials", async ({ browser }) => {
  const { crossBundleURL, baseURL } = readState();
  const apiCalls: string[] = [];
  const { page, violations } = await signIn(browser, crossBundleURL);
  page.on("request", (request) => {
    if (request.url().startsWith(`${baseURL}/api/`)) apiCalls.push(request.url());
  });

  await page.goto("/devices");
  await expect(page.locator(thisDevice)).toHaveCount(1);
  expect(apiCalls.length).toBeGreaterThan(0);
  // The bundle cannot read the API origin's binding marker, yet binds the sign-in it made
  // to its own key all the same.
  await awaitKeyBound(page);

  // Without an access cookie the page resumes through the API, whose sign-in page renews
  // the bound session with the key, and comes back here.
  await page.context().clearCookies({ name: "__Host-fin_access" });
  await page.goto("/devices");
  await expect(page).toHaveURL(`${crossBundleURL}/devices`);
  await expect(page.locator(thisDevice)).toHaveCount(1);
  expect(violations).toEqual([]);
  await page.context().close();
});
