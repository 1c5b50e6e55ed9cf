// Drives Inlet's contact properties, suppression and event patterns with the official
// `loops` SDK. Run by the Rust integration test in tests/it/sdk_contacts.rs, which starts
// Inlet, suppresses INLET_SUPPRESSED_EMAIL (userId sdk-suppressed) and passes
// INLET_API_ROOT and INLET_API_KEY.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LoopsClient, APIError } from "loops";

function client() {
  const loops = new LoopsClient(process.env.INLET_API_KEY);
  loops.apiRoot = process.env.INLET_API_ROOT;
  return loops;
}

const refused = (status, text) => (e) =>
  e instanceof APIError && e.statusCode === status && (!text || e.json.message.includes(text));

test("contact properties: declared with a type, listed, and checked on every write", async () => {
  const loops = client();
  assert.deepEqual(await loops.createContactProperty("planName", "string"), { success: true });
  assert.deepEqual(await loops.createContactProperty("seatCount", "number"), { success: true });
  assert.deepEqual(await loops.createContactProperty("renewsAt", "date"), { success: true });
  await assert.rejects(loops.createContactProperty("Plan_Name", "string"), refused(400, "camelCase"));
  await assert.rejects(loops.createContactProperty("planName", "number"), refused(400, "already exists"));
  await assert.rejects(loops.createContactProperty("teamId", "string"), refused(400, "reserved"));
  await assert.rejects(loops.createContactProperty("other", "integer"), refused(400, "type"));

  const custom = await loops.listContactProperties("custom");
  assert.deepEqual(custom, [
    { key: "planName", label: "Plan Name", type: "string" },
    { key: "renewsAt", label: "Renews At", type: "date" },
    { key: "seatCount", label: "Seat Count", type: "number" },
  ]);
  const all = await loops.listContactProperties("all");
  assert.deepEqual(
    all.map((p) => p.key),
    ["email", "firstName", "lastName", "source", "subscribed", "userGroup", "userId", "planName", "renewsAt", "seatCount"],
  );
  assert.equal(all.find((p) => p.key === "subscribed").type, "boolean");
  assert.deepEqual(await loops.listContactProperties(), all, "all is the default");

  // A value of the wrong type is a 400 naming the property, and nothing is created.
  await assert.rejects(
    loops.createContact({ email: "typed@example.com", properties: { seatCount: "three" } }),
    refused(400, "seatCount"),
  );
  assert.deepEqual(await loops.findContact({ email: "typed@example.com" }), []);
  await loops.createContact({
    email: "typed@example.com",
    properties: { seatCount: 3, renewsAt: "2024-01-31 12:00", undeclared: "kept" },
  });
  const [found] = await loops.findContact({ email: "typed@example.com" });
  assert.equal(found.seatCount, 3);
  assert.equal(found.renewsAt, "2024-01-31T12:00:00Z", "dates are stored as RFC 3339 in UTC");
  assert.equal(found.undeclared, "kept", "undeclared properties are kept as given");
  assert.equal(found.optInStatus, null, "Inlet has no double opt-in");
  await assert.rejects(
    loops.updateContact({ email: "typed@example.com", properties: { renewsAt: "soon" } }),
    refused(400, "renewsAt"),
  );
  await assert.rejects(
    loops.sendEvent({ email: "typed@example.com", eventName: "typed", contactProperties: { planName: 7 } }),
    refused(400, "planName"),
  );
  const [unchanged] = await loops.findContact({ email: "typed@example.com" });
  assert.equal(unchanged.renewsAt, "2024-01-31T12:00:00Z");
});

test("suppression: checked by email or userId, removed within the quota", async () => {
  const loops = client();
  const email = process.env.INLET_SUPPRESSED_EMAIL;
  const checked = await loops.checkContactSuppression({ email });
  assert.equal(checked.isSuppressed, true);
  assert.equal(checked.contact.email, email);
  assert.equal(checked.contact.userId, "sdk-suppressed");
  assert.match(checked.contact.id, /^c_/);
  assert.deepEqual(checked.removalQuota, { limit: 100, remaining: 100 });
  assert.deepEqual(await loops.checkContactSuppression({ userId: "sdk-suppressed" }), checked);

  const removed = await loops.removeContactSuppression({ userId: "sdk-suppressed" });
  assert.equal(removed.success, true);
  assert.equal(typeof removed.message, "string");
  assert.deepEqual(removed.removalQuota, { limit: 100, remaining: 99 });
  assert.equal((await loops.checkContactSuppression({ email })).isSuppressed, false);
  await assert.rejects(loops.removeContactSuppression({ email }), refused(400, "not suppressed"));
  await assert.rejects(loops.checkContactSuppression({ email: "nobody@example.com" }), refused(404));
});

test("event patterns: every platform event and the custom ones, paged, typed", async () => {
  const loops = client();
  await loops.sendEvent({
    email: "patterns@example.com",
    eventName: "creditWarning",
    eventProperties: { creditsUsed: 903, accountName: "Loops", renewsAt: "2024-01-31T00:00:00Z" },
  });
  const first = await loops.listEventPatterns({ perPage: 10 });
  assert.equal(first.pagination.perPage, 10);
  assert.equal(first.pagination.returnedResults, 10);
  assert.equal(typeof first.pagination.nextCursor, "string");
  assert.equal(first.pagination.totalPages, Math.ceil(first.pagination.totalResults / 10));
  const seen = [...first.data];
  let page = first;
  while (page.pagination.nextCursor) {
    page = await loops.listEventPatterns({ perPage: 10, cursor: page.pagination.nextCursor });
    seen.push(...page.data);
  }
  assert.equal(page.pagination.nextPage, null);
  assert.equal(seen.length, first.pagination.totalResults);
  assert.equal(new Set(seen.map((p) => p.id)).size, seen.length, "no pattern twice");
  const platforms = new Set(seen.map((p) => p.incomingWebhookPlatform));
  assert.deepEqual([...platforms].sort(), ["clerk", "polar", "stripe", "supabase", null].sort());

  const custom = seen.find((p) => p.eventName === "creditWarning");
  assert.equal(custom.incomingWebhookPlatform, null);
  const pattern = await loops.getEventPattern(custom.id);
  assert.deepEqual(pattern.eventProperties, [
    { name: "accountName", type: "string" },
    { name: "creditsUsed", type: "number" },
    { name: "renewsAt", type: "date" },
  ]);
  assert.deepEqual(await loops.getEventPatternByName("creditWarning"), pattern);

  const invoice = await loops.getEventPatternByName("stripe:invoice.paid");
  assert.equal(invoice.incomingWebhookPlatform, "stripe");
  assert.ok(invoice.eventProperties.some((p) => p.name === "amount" && p.type === "number"));
  assert.deepEqual(await loops.getEventPattern(invoice.id), invoice);
  await assert.rejects(loops.getEventPattern("ep_nope"), refused(404));
  await assert.rejects(loops.getEventPatternByName("neverSent"), refused(404));
  await assert.rejects(loops.listEventPatterns({ perPage: 500 }), refused(400, "perPage"));
});
