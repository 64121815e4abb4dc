import { expect, test, type BrowserContext, type Page } from "@playwright/test";

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

// With its UI off (WebAuthn.enable's default), Chromium sends every request straight to the
// virtual authenticator and picks the first account itself: a conditional request does not
// wait in the username field's autofill but is answered at once.
async function virtualAuthenticator(context: BrowserContext, page: Page) {
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
  return { cdp, authenticatorId };
}

async function addPasskey(page: Page, name: string) {
  await open(page, "/security");
  await page.getByLabel("Passkey name").fill(name);
  await page.getByRole("button", { name: "Add a passkey" }).click();
  await expect(page.getByTestId("passkey").filter({ hasText: name })).toHaveCount(1);
}

test("add a passkey, sign in with it without a username, and remove it", async ({ browser }) => {
  test.setTimeout(90_000);
  const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": "81.2.69.142" } });
  // The autofill would be answered as soon as the passkey exists (see virtualAuthenticator),
  // signing every visit to /login in by itself before the test could press the button or
  // type the password the step-up needs. This test drives those two, so its pages are told
  // the autofill is unavailable and the app never asks for it; the next test covers it.
  await context.addInitScript(() => {
    if (window.PublicKeyCredential) {
      PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
    }
  });
  const page = await context.newPage();
  const { cdp, authenticatorId } = await virtualAuthenticator(context, page);

  // At home, with the password (no second factor yet, so no step-up): add a passkey.
  await signInWithPassword(page);
  await expect(page.getByTestId("username")).toHaveText(PASSKEYER.username);
  await addPasskey(page, "Test laptop");
  await expect(page.getByTestId("passkey")).toHaveCount(1);
  await expect(page.getByTestId("passkey")).toContainText("Never used");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  expect(credentials).toHaveLength(1);
  expect(credentials[0].isResidentCredential).toBe(true);

  // Signed out, the passkey alone signs in: no username typed.
  await signOut(page);
  await open(page, "/login");
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expect(page.getByTestId("username")).toHaveText(PASSKEYER.username);

  // Removed (the passkey sign-in is recent, so no password is asked), it signs in no more.
  await open(page, "/security");
  await expect(page.getByTestId("passkey")).toContainText("Last used");
  await page.getByRole("button", { name: "Remove Test laptop" }).click();
  await expect(page.getByTestId("passkey")).toHaveCount(0);
  await signOut(page);
  await open(page, "/login");
  await page.getByRole("button", { name: "Sign in with a passkey" }).click();
  await expect(page.getByRole("alert")).toContainText("That passkey did not sign you in");
  await expect(page).toHaveURL(/\/login$/);
  await context.close();
});

test("the username field's autofill signs in with the passkey, with no click", async ({ browser }) => {
  const context = await browser.newContext({ extraHTTPHeaders: { "X-Forwarded-For": "81.2.69.142" } });
  const page = await context.newPage();
  await virtualAuthenticator(context, page);
  // The previous test removed its passkey, so the account has no factor and the password
  // alone signs in at home.
  await signInWithPassword(page);
  await expect(page.getByTestId("username")).toHaveText(PASSKEYER.username);
  await addPasskey(page, "Autofill laptop");

  // Without its cookies the browser is signed out; the sign-in page's autofill request is
  // answered by the authenticator at once, and the page finishes the sign-in by itself.
  // (Cookies are dropped rather than signing out, whose landing on /login would race the
  // autofill this test waits for.)
  await context.clearCookies();
  await page.goto(`${origin}/login`);
  await expect(page).toHaveURL(`${origin}/`);
  await expect(page.getByTestId("username")).toHaveText(PASSKEYER.username);
  await context.close();
});
