// The admin console in a real browser: sign in, see the installed plugins,
// review and install a signed package by upload, see it listed with its
// console page. Usage: node console.mjs (env TESSERA_URL, ADMIN_PASSWORD,
// PACKAGE, SIGNER).
import { run, expect } from "./lib.mjs";

const base = process.env.TESSERA_URL;
const password = process.env.ADMIN_PASSWORD;
const packagePath = process.env.PACKAGE;
const signer = process.env.SIGNER;

await run("console", async (page) => {
  await page.goto(`${base}/console`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Installed plugins" }).waitFor();
  const hello = page.getByRole("row").filter({ hasText: "tessera.hello" });
  await hello.waitFor();
  expect((await hello.textContent()).includes("enabled"), "hello is listed as enabled");
  expect(!(await page.getByRole("row").filter({ hasText: "tessera.workflow" }).count()), "workflow is not installed yet");

  // Install by upload: the review shows the signer and the capabilities first.
  await page.getByRole("link", { name: "Install" }).click();
  await page.getByLabel("Package (.tpkg)").setInputFiles(packagePath);
  await page.getByRole("button", { name: "Review" }).click();
  const capabilities = page.locator("#capabilities");
  await capabilities.waitFor();
  const review = await page.locator("#review").textContent();
  expect(review.includes(`trusted: ${signer}`), `the review names the trusted signer: ${review}`);
  expect((await capabilities.textContent()).includes("publish events workflow.*"), "the review lists the capabilities");
  await page.getByRole("button", { name: "Install", exact: true }).click();

  await page.getByRole("heading", { name: "Installed plugins" }).waitFor();
  const workflow = page.getByRole("row").filter({ hasText: "tessera.workflow" });
  await workflow.waitFor();
  expect((await workflow.textContent()).includes(`trusted:${signer}`), "installed as verified by the signer");

  // Its console page, declared in its manifest, is in the menu and works.
  await page.getByRole("link", { name: "Workflow: Task inbox" }).click();
  await page.getByRole("heading", { name: "Workflow: Task inbox" }).waitFor();

  // The audit log records the install.
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("cell", { name: "plugin.installed" }).first().waitFor();

  // The event bus page shows the retention policy and compacts on demand.
  await page.getByRole("link", { name: "Event bus" }).click();
  await page.getByRole("heading", { name: "Event bus" }).waitFor();
  await page.getByText("Events are kept 30 days").waitFor();
  await page.getByRole("button", { name: "Compact now" }).click();
  await page.getByText(/Removed \d+ expired events/).waitFor();
});
