// The customer portal in a real browser, on the demo data: the technical
// buyer sees ACME's printers and re-orders toner; the business buyer sees
// orders, the shipment and invoices and pays the open order. Usage: node
// portal.mjs (env TESSERA_URL).
import { run, expect } from "./lib.mjs";

const base = process.env.TESSERA_URL;

async function signIn(page, username, password) {
  await page.goto(`${base}/api/portal/`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

await run("portal-technical", async (page) => {
  await signIn(page, "tina", "tina-demo-portal");
  const heading = page.getByRole("heading", { level: 1, name: "Technical dashboard" });
  await heading.waitFor();
  expect(await heading.getAttribute("data-dashboard") === "technical-buyer", "chosen by the segment");
  await page.getByRole("heading", { name: "Your fleet at a glance" }).waitFor();
  const printer = page.locator("#devices").getByRole("row").filter({ hasText: "Office printer, 2nd floor" });
  await printer.waitFor();
  expect((await printer.textContent()).includes("toner.black: 11"), "the latest toner level is shown");
  expect(!(await page.locator("#invoices").count()), "no business blocks for a technical buyer");
  await page.getByRole("button", { name: /^Re-order / }).click();
  await page.getByText(/Re-ordered: order \S+ is placed/).waitFor();
});

await run("portal-business", async (page) => {
  await signIn(page, "bruno", "bruno-demo-portal");
  await page.getByRole("heading", { level: 1, name: "Business dashboard" }).waitFor();
  await page.getByRole("heading", { name: "Your account at a glance" }).waitFor();
  await page.locator("#shipments").getByText("shipped").waitFor();
  await page.locator("#invoices").getByText(/^INV-/).first().waitFor();
  expect(!(await page.locator("#devices").count()), "no device block for a business buyer");
  const pay = page.getByRole("button", { name: /^Pay / });
  await pay.first().waitFor();
  await pay.first().click();
  await page.getByText(/Order \S+ is paid\./).waitFor();
});
