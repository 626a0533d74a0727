// Opsline in a real browser: Debian's Chromium driven by playwright-core, as a new hotline agent
// and a customer would use it. Every page is screenshotted at 1280 px and 375 px (no horizontal
// scroll at 375 px) and checked with axe-core (no serious or critical violations). Also: a
// customer cannot reach another customer's ticket, and a form without its CSRF token is refused;
// the customer reads a service report in the portal and acknowledges it.
//
// Run by the api test `browser` with: BASE (the app), LINK (the customer's e-mailed set-password
// link), AGENT_USER / AGENT_PASSWORD, CALLER_PHONE (digits to type), OTHER_TICKET (a ticket of
// another customer), CHECK_NAME (a public check's public name), ARTIFACTS (where screenshots go),
// CHROMIUM (the browser). Prints one JSON line with what it saw; exits 1 on the first failure.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("BASE");
const OUT = env("ARTIFACTS");
mkdirSync(OUT, { recursive: true });

const seen = { pages: [], axe: {}, screenshots: 0 };
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/** Screenshots at both widths, no horizontal scroll at 375 px, axe-core clean. */
async function inspect(page, name) {
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
    await page.waitForTimeout(50);
    await page.screenshot({ path: `${OUT}/${name}-${width}.png`, fullPage: true });
    seen.screenshots += 1;
    if (width === 375) {
      const { scroll, client } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      check(scroll <= client, `${name}: no horizontal scroll at 375 px (scrollWidth ${scroll} > ${client})`);
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
  );
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  seen.axe[name] = result.violations.map((v) => `${v.id}:${v.impact}`);
  check(
    bad.length === 0,
    `${name}: axe-core found ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`).join("; ")}`,
  );
  seen.pages.push(name);
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let failed = null;
try {
  // axe-core is evaluated into the page; the pages' CSP allows only Opsline's own scripts.
  const staffCtx = await browser.newContext({ locale: "en-US", bypassCSP: true, timezoneId: "Asia/Shanghai" });
  const agent = await staffCtx.newPage();
  agent.setDefaultTimeout(15000);

  // Sign in as the agent.
  await agent.goto(`${BASE}/sign-in`);
  await inspect(agent, "sign-in");
  await agent.fill("#username", env("AGENT_USER"));
  await agent.fill("#password", env("AGENT_PASSWORD"));
  await Promise.all([agent.waitForURL(`${BASE}/console`), agent.click("form.card button[type=submit]")]);

  // A caller on the line: find them by phone digits, describe the fault, see level and quotes.
  await agent.goto(`${BASE}/console/new`);
  await agent.fill("#find", env("CALLER_PHONE"));
  await agent.waitForSelector("#matches .match");
  await agent.click("#matches .match");
  await agent.waitForFunction(() => document.querySelector("#contact_id").value !== "");
  await agent.fill("#title", "Core banking system down");
  const typed = Date.now();
  await agent.fill("#description", "All branches see an outage: the core banking service is unavailable since 09:55.");
  // The similar resolved ticket shows while the agent is still on the call: within a second.
  await agent.waitForFunction(
    (similar) => [...document.querySelectorAll("#similar-tickets a")].some((a) => a.textContent.includes(similar)),
    env("SIMILAR_TICKET"),
    { timeout: 1000 },
  );
  seen.similar_ms = Date.now() - typed;
  seen.similar_article = (await agent.textContent("#similar-articles")).includes(env("SIMILAR_ARTICLE"));
  await agent.waitForFunction(() => document.querySelector("#suggested-level").textContent.trim() === "I");
  await agent.waitForFunction(() => document.querySelector("#q-response").textContent.trim() !== "–");
  seen.quoted = {
    response: (await agent.textContent("#q-response")).trim(),
    plan: (await agent.textContent("#q-plan")).trim(),
    resolution: (await agent.textContent("#q-resolution")).trim(),
    matched: (await agent.textContent("#matched")).trim(),
  };
  await inspect(agent, "new-ticket");
  await agent.focus("#description");
  await Promise.all([agent.waitForURL(/\/console\/tickets\/INC-\d+$/), agent.keyboard.press("Control+Enter")]);
  const number = agent.url().split("/").pop();
  seen.number = number;
  await inspect(agent, "ticket");

  // A public title for the status page while the fault lasts.
  await agent.fill("#public_title", "Online banking unavailable");
  await Promise.all([agent.waitForURL(`${BASE}/console/tickets/${number}`), agent.click("form[action$='/public-title'] button")]);

  // It is at the top of the queue.
  await agent.goto(`${BASE}/console`);
  const top = (await agent.textContent("table.queue tbody tr:first-child td:first-child")).trim();
  check(top === number, `the new ticket ${number} tops the queue (top: ${top})`);
  await inspect(agent, "queue");

  // The customer sets a password from the e-mailed link and sees the ticket with its clocks.
  const custCtx = await browser.newContext({ locale: "en-US", bypassCSP: true, timezoneId: "Asia/Shanghai" });
  const customer = await custCtx.newPage();
  customer.setDefaultTimeout(15000);
  await customer.goto(`${BASE}/portal/sign-in`);
  await inspect(customer, "portal-sign-in");
  await customer.goto(env("LINK"));
  await inspect(customer, "portal-link");
  await customer.fill("#password", "a long portal password");
  await customer.fill("#password_again", "a long portal password");
  await Promise.all([customer.waitForURL(`${BASE}/portal`), customer.click("form.card button[type=submit]")]);
  const list = await customer.textContent("main");
  check(list.includes(number), `the portal lists ${number}`);
  check(/response due/.test(list), `the portal shows the response clock in words: ${list}`);
  await inspect(customer, "portal");
  await customer.goto(`${BASE}/portal/tickets/${number}`);
  const before = await customer.textContent("#clocks");
  check(/response due/.test(before) && /plan due/.test(before), `clocks in plain words before the response: ${before}`);
  await inspect(customer, "portal-ticket");

  // Help: the customer finds the published article and answers it.
  await customer.goto(`${BASE}/portal/help?q=${encodeURIComponent("core banking")}`);
  await inspect(customer, "portal-help");
  await Promise.all([customer.waitForURL(/\/portal\/help\/\d+$/), customer.click(".kb-list a")]);
  await inspect(customer, "portal-article");
  await Promise.all([customer.waitForURL(/answered=1$/), customer.click("button[name=helpful][value=yes]")]);
  seen.answered = (await customer.textContent("main")).includes("Thank you");
  await customer.goto(`${BASE}/portal/tickets/${number}`);

  // The status page names the public check and the public title, and nothing about the customer.
  const anon = await (await browser.newContext({ locale: "en-US", bypassCSP: true })).newPage();
  await anon.goto(`${BASE}/status`);
  const status = await anon.textContent("body");
  check(status.includes(env("CHECK_NAME")), "the status page lists the public check");
  check(status.includes("Online banking unavailable"), "the status page shows the public title");
  for (const secret of [number, "INC-", "Acme", "core banking service is unavailable", env("OTHER_TICKET")]) {
    check(!status.includes(secret), `the status page does not show "${secret}"`);
  }
  await inspect(anon, "status");

  // The agent responds; the portal changes.
  await agent.goto(`${BASE}/console/tickets/${number}`);
  await agent.fill("#text-respond", "We are on it: the database cluster failed over; an engineer is restoring it.");
  await Promise.all([agent.waitForURL(`${BASE}/console/tickets/${number}`), agent.click("form.action-respond button")]);
  await customer.reload();
  const after = await customer.textContent("#clocks");
  check(/responded ✓/.test(after), `the portal shows the response met: ${after}`);
  check((await customer.textContent("#status")).includes("in progress"), "the portal shows in progress");

  // On-site service: the dispatcher books the engineer from the console's board; the engineer's
  // phone (375 px) shows the visit; "on my way", "arrived", "done"; the customer signs on the
  // engineer's screen; the work order shows the signature.
  await agent.goto(`${BASE}/console/dispatch`);
  await inspect(agent, "dispatch");
  const local = (ms) => {
    const d = new Date(Date.now() + ms + 8 * 3600 * 1000);
    return d.toISOString().slice(0, 16);
  };
  await agent.fill("#d-ticket", number);
  await agent.fill("#d-site", "88 Century Avenue, Pudong, 12F machine room");
  await agent.fill("#d-contact", "Wang Fang");
  await agent.selectOption("#d-engineer", { label: await agent.evaluate(() => document.querySelector("#d-engineer option").textContent) });
  await agent.fill("#d-start", local(3600 * 1000));
  await agent.fill("#d-end", local(3 * 3600 * 1000));
  await Promise.all([agent.waitForURL(`${BASE}/console/tickets/${number}`), agent.click(".dispatch-form button[type=submit]")]);
  await agent.setViewportSize({ width: 375, height: 812 });
  await agent.goto(`${BASE}/field`);
  const card = agent.locator("article.visit-card").first();
  check((await card.textContent()).includes(number), `the phone lists the visit of ${number}`);
  check((await card.getAttribute("data-state")) === "booked", "booked");
  await inspect(agent, "field");
  const visitId = await card.getAttribute("data-visit");
  const stateIs = async (s) => {
    await agent.waitForSelector(`article[data-visit="${visitId}"][data-state="${s}"]`, { timeout: 15000 });
  };
  await agent.click(`article[data-visit="${visitId}"] button[data-action=depart]`);
  await stateIs("en_route");
  await agent.click(`article[data-visit="${visitId}"] button[data-action=arrive]`);
  await stateIs("on_site");
  await agent.fill(`#summary-${visitId}`, "Replaced the failed disk; cluster in sync.");
  await agent.fill(`#parts-${visitId}`, "600 GB SAS disk");
  await agent.click(`article[data-visit="${visitId}"] form.complete button[type=submit]`);
  await stateIs("completed");
  await inspect(agent, "field-sign");
  await agent.fill(`#signer-${visitId}`, "Wang Fang");
  const pad = await agent.locator(`article[data-visit="${visitId}"] canvas`).boundingBox();
  await agent.mouse.move(pad.x + 20, pad.y + 100);
  await agent.mouse.down();
  for (let i = 1; i <= 20; i++) await agent.mouse.move(pad.x + 20 + i * 12, pad.y + 100 - Math.sin(i / 3) * 40);
  await agent.mouse.up();
  await agent.click(`article[data-visit="${visitId}"] form.sign button[type=submit]`);
  await stateIs("signed");
  await agent.goto(`${BASE}/field/visits/${visitId}/work-order`);
  check((await agent.textContent("#signer")).includes("Wang Fang"), "the work order names the signer");
  check((await agent.getAttribute("#signature", "src")).startsWith("data:image/png;base64,"), "the work order shows the signature");
  check(/^[0-9a-f]{64}$/.test((await agent.textContent("#signature-sha256")).trim()), "and its SHA-256");
  await inspect(agent, "work-order");
  // The customer finds the signed work order in the portal.
  await customer.goto(`${BASE}/portal/visits/${visitId}`);
  check((await customer.textContent("#signer")).includes("Wang Fang"), "the portal shows who signed");
  await inspect(customer, "portal-visit");
  await customer.goto(`${BASE}/portal/tickets/${number}`);
  await agent.setViewportSize({ width: 1280, height: 900 });
  await agent.goto(`${BASE}/console/tickets/${number}`);

  // The engineer's resolution, then the customer confirms.
  await agent.fill("#text-resolve", "Failed over to the standby database; service restored.");
  await Promise.all([agent.waitForURL(`${BASE}/console/tickets/${number}`), agent.click("form.action-resolve button")]);
  await customer.reload();
  await inspect(customer, "portal-resolved");
  await Promise.all([customer.waitForURL(`${BASE}/portal/tickets/${number}`), customer.click("#confirm")]);
  check((await customer.textContent("#status")).includes("closed"), "confirmed: the ticket is closed");
  await customer.goto(`${BASE}/portal/new`);
  await inspect(customer, "portal-new");

  // The customer reads last week's service report in the portal and acknowledges it.
  await customer.goto(`${BASE}/portal/reports`);
  await inspect(customer, "portal-reports");
  await Promise.all([customer.waitForURL(/\/portal\/reports\/\d+$/), customer.click("a.report-link")]);
  check((await customer.textContent("h1")).includes("Acme Bank"), "the report names the customer");
  await inspect(customer, "portal-report");
  await Promise.all([
    customer.waitForURL(/\/portal\/reports\/\d+/),
    customer.click("button[value=acknowledged]"),
  ]);
  const answered = (await customer.textContent("#answer")).replace(/\s+/g, " ").trim();
  check(answered.includes("Acknowledged") && answered.includes("Wang Fang"), `the report is acknowledged: ${answered}`);
  seen.report_answer = answered;

  // A customer cannot reach another customer's ticket through any page.
  const other = env("OTHER_TICKET");
  for (const path of [`/portal/tickets/${other}`, `/console/tickets/${other}`, `/portal/tickets/${other}/attachments/1`]) {
    const res = await customer.goto(`${BASE}${path}`);
    check(res.status() === 404, `${path} is not found for another customer (got ${res.status()})`);
  }
  const staffOnly = await customer.goto(`${BASE}/console`);
  check(new URL(customer.url()).pathname === "/portal", `the console sends a customer to the portal (at ${customer.url()}, ${staffOnly.status()})`);

  // Forms posted without their CSRF token are refused, and change nothing.
  const noToken = await agent.request.post(`${BASE}/console/tickets/${number}/act`, {
    form: { action: "reopen", text: "no token" },
    maxRedirects: 0,
  });
  check(noToken.status() === 403, `a staff form without csrf_token is refused (${noToken.status()})`);
  const forged = await customer.request.post(`${BASE}/portal/tickets/${number}/act`, {
    form: { action: "reopen", reason: "forged", csrf_token: "not-the-token" },
    maxRedirects: 0,
  });
  check(forged.status() === 403, `a portal form with a wrong csrf_token is refused (${forged.status()})`);
  await customer.goto(`${BASE}/portal/tickets/${number}`);
  check((await customer.textContent("#status")).includes("closed"), "the refused forms changed nothing");

  // Checks, a one-click inspection with its progress and report, past inspections.
  await agent.goto(`${BASE}/console/checks`);
  await inspect(agent, "checks");
  await agent.goto(`${BASE}/console/inspections`);
  await inspect(agent, "inspections");
  await Promise.all([agent.waitForURL(/\/console\/inspections\/\d+$/), agent.click("#run-inspection")]);
  await agent.waitForSelector("section.report", { timeout: 30000 });
  const report = await agent.textContent("section.report");
  check(report.includes(env("CHECK_ID_NAME")), `the report lists the check: ${report}`);
  seen.report = report.replace(/\s+/g, " ").trim().slice(0, 200);
  await inspect(agent, "inspection");
  await agent.goto(`${BASE}/console/notifications`);
  await inspect(agent, "notifications");
  await agent.goto(`${BASE}/console/tickets/${number}`);
  await inspect(agent, "ticket-closed");

  // The switch: Chinese pages, and another time zone, named.
  await agent.goto(`${BASE}/console?lang=zh-CN&tz=Europe/London`);
  const zh = await agent.textContent("body");
  check(zh.includes("工单队列") && zh.includes("Europe/London"), "Chinese and the chosen zone");
  await inspect(agent, "queue-zh");
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
writeFileSync(`${OUT}/summary.json`, JSON.stringify(seen, null, 2));
console.log(JSON.stringify(seen));
if (failed) {
  console.error(failed.stack || String(failed));
  process.exit(1);
}
