import { expect, test, type Page } from "@playwright/test";

import { PASSKEYER } from "../harness/state";

// A passkey's whole life in Chromium, with the DevTools virtual authenticator standing in
// for the platform's (internal transport, resident keys, user verification). WebAuthn needs
// a relying party that is a host name, so this test browses http://localhost, which the
// server's FIN_PUBLIC_URL names (harness/global-setup.ts).
const port = new URL(process.env.FIN_E2E_BASE_URL ?? "http://127.0.0.1:8010").port;
const origin = `http://localhost:${port}`;

async function open(page: Page, path: string) {
  await page.goto(`${origin}${path}`);
  await expect(page.locator("body[data-hydrated=true]")).toHaveCount(1);
}

async function signOut(page: Page) {
  await open(page, "/");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
}

async function signInWithPassword(page: Page) {
  await open(page, "/login");
  await page.getByLabel("Username or e-mail").fill(PASSKEYER.username);
  await page.getByLabel("Password").fill(PASSKEYER.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

test("add a passkey, sign in with it without a username, step up with it, and remove it", async ({ browser }) => {
  test.setTimeout(90_000);
  const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": "81.2.69.142" } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  // At home, with the password (no second factor yet, so no step-up): add a passkey.
  await signInWithPassword(page);
  await expect(page.getByTestId("username")).toHaveText(PASSKEYER.username);
  await open(page, "/security");
  await page.getByLabel("Passkey name").fill("Test laptop");
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await expect(page.getByTestId("passkey")).toHaveCount(1);
  await expect(page.getByTestId("passkey")).toContainText("Test laptop");
  await expect(page.getByTestId("passkey")).toContainText("Never used");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  expect(credentials).toHaveLength(1);
  expect(credentials[0].isResidentCredential).toBe(true);

  // Signed out, the passkey alone signs in: no username typed.
  await signOut(page);
  await open(page, "/login");
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expect(page.getByTestId("username")).toHaveText(PASSKEYER.username);

  // Far away, the password alone is not enough: the step-up offers the passkey first.
  await signOut(page);
  await page.setExtraHTTPHeaders({ "X-Forwarded-For": "1.1.1.1" });
  await signInWithPassword(page);
  await page.getByTestId("step-up-passkey").click();
  await expect(page.getByTestId("username")).toHaveText(PASSKEYER.username);

  // Removed (the step-up sign-in is recent, so no password is asked), it signs in no more.
  await open(page, "/security");
  await expect(page.getByTestId("passkey")).toContainText("Last used");
  await page.getByRole("button", { name: "Remove Test laptop" }).click();
  await expect(page.getByTestId("passkey")).toHaveCount(0);
  await signOut(page);
  await open(page, "/login");
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expect(page.getByRole("alert")).toContainText("Invalid username or password");
  await expect(page).toHaveURL(/\/login$/);
  await context.close();
});
