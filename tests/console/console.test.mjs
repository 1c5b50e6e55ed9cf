// Drives Inlet's operator console in headless Chromium against a running `inlet serve`.
// Run by the Rust integration test `console_in_headless_chromium_against_inlet_serve`,
// which starts Inlet and passes:
//   BASE_URL        http://127.0.0.1:<port>
//   API_KEY         an active API key
//   DEAD_EMAIL      email of the contact inside the dead-lettered delivery prepared beforehand
//   SHOTS_DIR       where page screenshots go (docs/console)
//   CHROMIUM        the browser (default /usr/bin/chromium)
// Every check throws on failure, so a failure exits non-zero.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.BASE_URL;
const KEY = process.env.API_KEY;
const DEAD_EMAIL = process.env.DEAD_EMAIL;
const SHOTS = process.env.SHOTS_DIR;
assert.ok(BASE && KEY && DEAD_EMAIL && SHOTS, "BASE_URL, API_KEY, DEAD_EMAIL and SHOTS_DIR are required");
mkdirSync(SHOTS, { recursive: true });

const SECRET = "whsec_console_e2e_secret";
const WAIT_MS = 15000;

function step(what) {
  console.log(`# ${what}`);
}

async function shot(page, name, fullPage = true) {
  // Frames (the template preview) are only painted in viewport screenshots.
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

/**
 * The dashboard's legend: one colour per status, each swatch right before its own label
 * (nearer it than the label before), and every bar of the chart in its status's colour.
 */
async function checkLegend(page) {
  const legend = await page.evaluate(() => {
    const statusOf = (el) => [...el.classList].find((c) => c.startsWith("s-")).slice(2);
    return [...document.querySelectorAll(".legend .legend-item")].map((item) => {
      const dot = item.querySelector(".dot");
      const range = document.createRange();
      range.selectNodeContents(item.lastChild);
      const text = range.getBoundingClientRect();
      const box = dot.getBoundingClientRect();
      return {
        status: statusOf(dot),
        label: item.textContent.trim(),
        colour: getComputedStyle(dot).backgroundColor,
        dotLeft: box.left,
        dotRight: box.right,
        top: box.top,
        textLeft: text.left,
        textRight: text.right,
      };
    });
  });
  assert.deepEqual(
    legend.map((l) => l.label),
    ["accepted", "processed", "ignored", "duplicate", "rejected", "failed", "dead"],
  );
  assert.deepEqual(legend.map((l) => l.status), legend.map((l) => l.label));
  assert.equal(new Set(legend.map((l) => l.colour)).size, legend.length, `one colour per status: ${JSON.stringify(legend)}`);
  for (const [i, item] of legend.entries()) {
    const own = item.textLeft - item.dotRight;
    assert.ok(own >= 0, `${item.status}: its swatch comes before its label`);
    const before = legend[i - 1];
    if (before && Math.abs(before.top - item.top) < 2) {
      const previous = item.dotLeft - before.textRight;
      assert.ok(own < previous, `${item.status}: swatch ${own}px from its label, ${previous}px from ${before.status}`);
    }
  }
  const bars = await page.evaluate(() => {
    const statusOf = (el) => [...el.classList].find((c) => c.startsWith("s-")).slice(2);
    return [...document.querySelectorAll("svg.chart rect")].map((r) => ({ status: statusOf(r), fill: getComputedStyle(r).fill }));
  });
  assert.ok(bars.length > 0, "the chart has bars");
  const colourOf = Object.fromEntries(legend.map((l) => [l.status, l.colour]));
  for (const bar of bars) {
    assert.equal(bar.fill, colourOf[bar.status], `${bar.status}: the bar has its swatch's colour`);
  }
}

/** Polls `check` until it returns a truthy value. */
async function eventually(what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The contacts the API finds for `email`. */
async function findContacts(email) {
  const res = await fetch(`${BASE}/api/v1/contacts/find?email=${encodeURIComponent(email)}`, {
    headers: { Authorization: `Bearer ${KEY}` },
  });
  assert.equal(res.status, 200);
  return res.json();
}

/** Posts a Stripe event to `url`, signed with `secret` as Stripe does. */
async function sendStripe(url, secret, event) {
  const body = JSON.stringify(event);
  const t = Math.floor(Date.now() / 1000);
  const v1 = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Stripe-Signature": `t=${t},v1=${v1}` },
    body,
  });
  return { status: res.status, body: await res.json() };
}

function customerEvent(id, type, email, name) {
  return {
    id,
    object: "event",
    type,
    created: Math.floor(Date.now() / 1000),
    data: { object: { id: `cus_${id}`, object: "customer", email, name } },
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
// Nothing may come from anywhere but Inlet.
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
try {
  const foreign = [];
  context.on("request", (req) => {
    if (!req.url().startsWith(BASE)) foreign.push(req.url());
  });

  step("pages need a session");
  await page.goto(`${BASE}/console/deliveries`);
  assert.equal(new URL(page.url()).pathname, "/console/login");
  await shot(page, "login");

  step("a wrong API key cannot sign in");
  {
    const other = await browser.newContext();
    const p = await other.newPage();
    await p.goto(`${BASE}/console/login`);
    await p.fill("#api_key", "inlet_not_a_key");
    const [res] = await Promise.all([p.waitForResponse((r) => r.request().method() === "POST"), p.click("button[type=submit]")]);
    assert.equal(res.status(), 401);
    assert.equal((await res.headerValue("set-cookie")) ?? null, null);
    await p.getByText("That API key is not valid").waitFor();
    assert.deepEqual((await other.cookies()).map((c) => c.name), ["inlet_login"], "no session");
    await other.close();
  }

  step("sign in");
  await page.fill("#api_key", KEY);
  await page.click("button[type=submit]");
  await page.waitForURL(`${BASE}/console`);
  const cookie = (await context.cookies()).find((c) => c.name === "inlet_session");
  assert.ok(cookie, "a session cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  assert.equal(cookie.path, "/console");

  step("connect Stripe with a secret");
  await page.click("nav >> text=Integrations");
  await page.click("a.button >> text=Stripe");
  await page.getByText("In the Stripe Dashboard").waitFor();
  const shownUrl = await page.inputValue("#endpoint-url");
  await page.fill("#name", "Shop");
  await page.fill("#secret", SECRET);
  await shot(page, "connect");
  await page.click("form >> text=Connect Stripe");
  await page.waitForURL(/\/console\/integrations\/int_[0-9a-f]{32}\?done=connected$/);
  const endpoint = await page.inputValue("#endpoint-url");
  assert.equal(endpoint, shownUrl, "the URL shown before connecting is the endpoint");
  assert.match(endpoint, new RegExp(`^${BASE}/webhooks/int_[0-9a-f]{32}$`));
  const integrationId = endpoint.split("/").pop();
  assert.ok(!(await page.content()).includes(SECRET), "the secret is never shown again");

  step("a signed delivery to that URL shows in the deliveries and its contact in contacts");
  const first = await sendStripe(endpoint, SECRET, customerEvent("evt_console_1", "customer.created", "ada@example.com", "Ada Lovelace"));
  assert.equal(first.status, 202, JSON.stringify(first.body));
  await page.click("nav >> text=Deliveries");
  await eventually("the delivery in the log", async () => {
    await page.reload();
    return (await page.locator("#deliveries tbody tr", { hasText: "customer.created" }).count()) > 0;
  });
  await page.selectOption("select[name=integration]", integrationId);
  await page.click("form.filters button[type=submit]");
  await page.locator("#deliveries", { hasText: "customer.created" }).waitFor();
  await shot(page, "deliveries");
  await page.click(`a[href="/console/deliveries/${first.body.id}"]`);
  await page.locator("#outcome").waitFor();
  await page.locator("#body", { hasText: "evt_console_1" }).waitFor();
  const headers = (await page.textContent("#headers")).toLowerCase();
  assert.ok(headers.includes("content-type"), headers);
  assert.ok(!headers.includes("stripe-signature"), "signatures are never shown");
  await shot(page, "delivery");
  await eventually("the contact", async () => (await findContacts("ada@example.com")).length === 1);
  await page.click("nav >> text=Contacts");
  await page.fill("input[name=q]", "ada@");
  await page.click("form.filters button");
  await page.click("#contacts >> text=ada@example.com");
  await page.locator("#contact", { hasText: "Lovelace" }).waitFor();
  await page.locator("#events", { hasText: "stripe:customer.created" }).waitFor();
  await shot(page, "contact");
  await page.click("nav >> text=Contacts");
  await shot(page, "contacts");

  step("create a mailing list");
  await page.click("nav >> text=Lists");
  await page.fill('input[name="name"]', "Customers");
  await page.fill('input[name="description"]', "Everyone who bought");
  await page.click("text=Create list");
  await page.locator("#lists", { hasText: "Customers" }).waitFor();
  const listId = (await page.textContent("#lists tbody tr code")).trim();
  assert.match(listId, /^list_/);
  await shot(page, "lists");

  step("change event settings and see them take effect");
  await page.goto(`${BASE}/console/integrations/${integrationId}`);
  await page.fill('input[name="userGroup:customer.created"]', "console-vip");
  await page.selectOption('select[name="lists:customer.created"]', listId);
  await page.uncheck('input[name="enabled:customer.updated"]');
  await page.click("#settings button[type=submit]");
  await page.getByText("Settings saved").waitFor();
  assert.equal(await page.inputValue('input[name="userGroup:customer.created"]'), "console-vip");
  assert.equal(await page.isChecked('input[name="enabled:customer.updated"]'), false);
  await shot(page, "integration");
  const vip = await sendStripe(endpoint, SECRET, customerEvent("evt_console_2", "customer.created", "grace@example.com", "Grace Hopper"));
  assert.equal(vip.status, 202, JSON.stringify(vip.body));
  const [grace] = await eventually("the second contact", async () => {
    const found = await findContacts("grace@example.com");
    return found.length === 1 ? found : null;
  });
  assert.equal(grace.userGroup, "console-vip");
  assert.deepEqual(grace.mailingLists, { [listId]: true });
  const off = await sendStripe(endpoint, SECRET, customerEvent("evt_console_3", "customer.updated", "ada@example.com", "Ada King"));
  assert.equal(off.status, 200);
  assert.equal(off.body.message, "Ignored: customer.updated is turned off for this integration.");
  assert.equal((await findContacts("ada@example.com"))[0].lastName, "Lovelace");

  step("send a test event from the page");
  await page.selectOption('select[name="event_type"]', "checkout.session.completed");
  await page.fill('input[name="email"]', "jenny@example.com");
  await page.click("text=Send test event");
  await page.getByText("Accepted checkout.session.completed").waitFor();
  await eventually("the test event's contact", async () => (await findContacts("jenny@example.com")).length === 1);

  step("templates: create, preview with a contact; workflows: create, disable");
  await page.click("nav >> text=Templates");
  await page.click("text=New template");
  await page.fill("#name", "Welcome");
  await page.fill("#subject", "Welcome, {{ contact.firstName }}");
  await page.fill("#html", "<p>Hi {{ contact.firstName }}, welcome aboard.</p>");
  await page.click("text=Save template");
  await page.waitForURL(/\/console\/templates\/tpl_[0-9a-f]+\?done=saved$/);
  const templateId = new URL(page.url()).pathname.split("/").pop();
  await page.frameLocator("iframe.preview").getByText("Hi Jenny, welcome aboard.").waitFor();
  await page.fill('input[name="email"]', "grace@example.com");
  await page.click("button.secondary >> text=Preview");
  await page.frameLocator("iframe.preview").getByText("Hi Grace, welcome aboard.").waitFor();
  assert.equal(await page.textContent("#preview-subject"), "Welcome, Grace");
  await shot(page, "template", false);
  await page.click("nav >> text=Workflows");
  await page.click("text=New workflow");
  await page.fill("#name", "Welcome new customers");
  await page.selectOption("#trigger_type", "event");
  await page.fill('input[name="event_name"]', "stripe:customer.created");
  await page.fill("#steps", `send ${templateId}`);
  await shot(page, "workflow");
  await page.click("text=Save workflow");
  await page.getByText("Workflow saved.").waitFor();
  const welcome = await sendStripe(endpoint, SECRET, customerEvent("evt_console_4", "customer.created", "linus@example.com", "Linus Pauling"));
  assert.equal(welcome.status, 202, JSON.stringify(welcome.body));
  await eventually("the welcome email", async () => {
    await page.goto(`${BASE}/console/emails?email=linus%40example.com`);
    return (await page.locator("#emails tbody tr", { hasText: "Welcome, Linus" }).count()) === 1;
  });
  await page.goto(`${BASE}/console/emails`);
  await shot(page, "emails");
  await page.click("nav >> text=Workflows");
  await page.locator("#workflows button", { hasText: /^Disable$/ }).click();
  await page.locator("#workflows button", { hasText: /^Enable$/ }).waitFor();
  await shot(page, "workflows");
  await page.click("nav >> text=Templates");
  await shot(page, "templates");

  step("a form post without the CSRF token is refused");
  const forged = await page.request.post(`${BASE}/console/integrations/${integrationId}/settings`, {
    form: { "enabled:customer.created": "on" },
    maxRedirects: 0,
  });
  assert.equal(forged.status(), 403);
  const wrongToken = await page.request.post(`${BASE}/console/integrations/${integrationId}/delete`, {
    form: { _csrf: "AAAA" },
    maxRedirects: 0,
  });
  assert.equal(wrongToken.status(), 403);
  await page.goto(`${BASE}/console/integrations/${integrationId}`);
  assert.equal(await page.isChecked('input[name="enabled:customer.updated"]'), false, "nothing changed");

  step("a dead-lettered delivery replayed from the page is applied once");
  assert.equal((await findContacts(DEAD_EMAIL)).length, 0);
  await page.click("nav >> text=Dead letters");
  const row = page.locator("#dead-letters tbody tr", { hasText: "customer.created" });
  await row.first().waitFor();
  assert.equal(await row.count(), 1);
  await shot(page, "dead-letters");
  await page.click("#replay-filtered");
  assert.match(await page.textContent("#preview-count"), /^1 dead letter will be replayed/);
  await shot(page, "replay-preview");
  await page.goto(`${BASE}/console/dead-letters`);
  await row.locator("button", { hasText: "Replay" }).click();
  assert.match(await page.textContent("#replayed-count"), /^1 dead letter replayed/);
  const [revived] = await eventually("the replayed contact", async () => {
    const found = await findContacts(DEAD_EMAIL);
    return found.length === 1 ? found : null;
  });
  await page.goto(`${BASE}/console/dead-letters`);
  assert.equal(await page.locator("#dead-letters button", { hasText: "Replay" }).count(), 0, "nothing left to replay");
  await page.click("#replay-filtered");
  assert.match(await page.textContent("#preview-count"), /^0 dead letters will be replayed/);
  // Replaying again (the API, everything) finds nothing; the contact has its event once.
  const again = await fetch(`${BASE}/api/v1/dead-letters/replay`, {
    method: "POST",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: "{}",
  });
  assert.equal((await again.json()).replayed, 0);
  await page.goto(`${BASE}/console/contacts/${revived.id}`);
  await new Promise((r) => setTimeout(r, 500));
  await page.reload();
  assert.equal(await page.locator("#events tbody tr", { hasText: "stripe:customer.created" }).count(), 1);

  step("dashboard");
  await page.click("nav >> text=Dashboard");
  assert.equal(await page.textContent("#dead-count"), "0");
  await page.locator("svg.chart rect").first().waitFor();
  await checkLegend(page);
  await shot(page, "dashboard");
  await page.click("nav >> text=Integrations");
  await shot(page, "integrations");

  step("sign out");
  await page.click("text=Sign out");
  await page.waitForURL(`${BASE}/console/login`);
  await page.goto(`${BASE}/console/contacts`);
  assert.equal(new URL(page.url()).pathname, "/console/login");

  assert.deepEqual(foreign, [], "the console loads nothing from elsewhere");
  console.log("# console: all checks passed");
} catch (e) {
  // Where it stopped, for whoever reads the failure.
  const where = join(tmpdir(), "inlet-console-failure.png");
  await page.screenshot({ path: where, fullPage: true }).catch(() => {});
  console.error(`failed on ${page.url()} (screenshot: ${where})`);
  throw e;
} finally {
  await browser.close();
}
