import { expect, test, type Browser, type BrowserContext, type Page } from "@playwright/test";

import { readState } from "../harness/state";

const TRAVELLER = { username: "traveller", password: "a long way from home 7" };
const LONDON = "81.2.69.142";
const SYDNEY = "1.1.1.1";

async function signIn(page: Page, username: string, password: string) {
  await page.goto("/login");
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await page.getByLabel("Username or e-mail").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("username")).toHaveText(username);
}

async function adminBrowser(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": "8.8.4.4" } });
  const page = await context.newPage();
  await signIn(page, "admin", readState().adminPassword);
  return { context, page };
}

test("the live page shows sign-ins as they happen, flags impossible travel, and revokes from the details", async ({
  browser,
}) => {
  const admin = await adminBrowser(browser);
  // The admin console creates the account (the server checks the caller, not the page).
  await admin.page.goto("/admin/users");
  await expect(admin.page.locator("body[data-hydrated=true]")).toHaveCount(1);
  const form = admin.page.getByTestId("create-user");
  await form.getByLabel("Username").fill(TRAVELLER.username);
  await form.getByLabel("E-mail").fill("traveller@example.com");
  await form.getByLabel("Password").fill(TRAVELLER.password);
  await form.getByRole("button", { name: "Create" }).click();
  await expect(admin.page.locator("[data-testid=user-row][data-user=traveller]")).toHaveCount(1);

  await admin.page.goto("/admin/live");
  await expect(admin.page.locator("body[data-hydrated=true]")).toHaveCount(1);
  await expect(admin.page.getByTestId("connection")).toHaveText("Live");
  const travellerSignIns = admin.page.locator("[data-testid=live-row][data-user=traveller][data-event=login_succeeded]");
  await expect(travellerSignIns).toHaveCount(0);

  // Another browser signs in from London, then, minutes of travel later, from Sydney.
  const traveller = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": LONDON } });
  const page = await traveller.newPage();
  await signIn(page, TRAVELLER.username, TRAVELLER.password);
  await expect(travellerSignIns).toHaveCount(1);
  await expect(travellerSignIns.first()).toContainText("London, GB");
  await traveller.clearCookies();
  await traveller.setExtraHTTPHeaders({ "X-Forwarded-For": SYDNEY });
  await signIn(page, TRAVELLER.username, TRAVELLER.password);

  // Both rows arrived without a reload, the newest on top, flagged with its reasons.
  await expect(travellerSignIns).toHaveCount(2);
  const sydneyRow = travellerSignIns.first();
  await expect(sydneyRow).toContainText("Sydney, AU");
  await expect(sydneyRow).toHaveClass(/flagged/);
  await expect(sydneyRow.getByTestId("reasons")).toContainText("impossible travel");
  // On the map: the places as dots, and the journey as a line.
  const map = admin.page.getByTestId("live-map");
  // (Other tests' sign-ins may have their own lines: count the traveller's.)
  await expect(map.locator("[data-testid=travel-line][data-user=traveller]")).toHaveCount(1);
  expect(await map.getByTestId("map-dot").count()).toBeGreaterThanOrEqual(2);
  await expect(admin.page.getByTestId("count-sign-ins")).not.toContainText(/^0/);

  // The details explain the score; revoking every session asks first, then acts.
  await sydneyRow.click();
  const details = admin.page.getByTestId("details");
  await expect(details.getByTestId("review-reasons")).toContainText("too far from the previous place");
  await expect(details.getByTestId("review-sessions").locator("li")).toHaveCount(2);
  await details.getByTestId("revoke-all").click();
  await details.getByTestId("confirm").click();
  await expect(details.getByTestId("outcome")).toHaveText("2 session(s) ended.");
  await expect(details.getByTestId("no-sessions")).toBeVisible();
  // The action itself comes back through the stream, as an audit event.
  await expect(admin.page.locator("[data-testid=live-row][data-user=traveller][data-event=session_revoked]")).toHaveCount(1);

  // The traveller's browser is signed out.
  await page.reload();
  await expect(page).toHaveURL(/\/login$/);

  await traveller.close();
  await admin.context.close();
});

test("a non-admin sees no admin links and the server refuses the admin pages", async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, TRAVELLER.username, TRAVELLER.password);
  await expect(page.getByTestId("admin-links")).toHaveCount(0);
  await page.goto("/admin/live");
  await expect(page.getByRole("alert")).toHaveText("Only administrators can see this page");
  const stream = await page.request.get("/api/admin/stream");
  expect(stream.status()).toBe(403);
  expect((await stream.json()).error).toBe("forbidden");
  await context.close();
});
