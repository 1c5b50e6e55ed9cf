// Drives a running Inlet with the official `loops` SDK, pointed at Inlet's /api/ URL.
// Run by the Rust integration test `loops_sdk_works_against_inlet`, which starts Inlet and
// passes INLET_API_ROOT, INLET_API_KEY and INLET_LIST_ID.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LoopsClient, APIError } from "loops";

function client() {
  const loops = new LoopsClient(process.env.INLET_API_KEY);
  loops.apiRoot = process.env.INLET_API_ROOT;
  return loops;
}

test("the API key is accepted, and a wrong one is refused", async () => {
  assert.equal((await client().testApiKey()).success, true);
  const wrong = new LoopsClient("inlet_wrong_key");
  wrong.apiRoot = process.env.INLET_API_ROOT;
  await assert.rejects(wrong.testApiKey(), (e) => e instanceof APIError && e.statusCode === 401);
});

test("contacts: create, update, find, delete", async () => {
  const loops = client();
  const listId = process.env.INLET_LIST_ID;
  const created = await loops.createContact({
    email: "sdk.user@example.com",
    properties: { firstName: "Sdk", lastName: "User", userId: "sdk-user-1", plan: "pro" },
    mailingLists: { [listId]: true },
  });
  assert.equal(created.success, true);
  assert.match(created.id, /^c_/);

  await assert.rejects(
    loops.createContact({ email: "sdk.user@example.com" }),
    (e) => e instanceof APIError && e.statusCode === 409,
  );

  const updated = await loops.updateContact({ email: "sdk.user@example.com", properties: { firstName: "Renamed", plan: null } });
  assert.equal(updated.id, created.id);

  const [found] = await loops.findContact({ userId: "sdk-user-1" });
  assert.equal(found.email, "sdk.user@example.com");
  assert.equal(found.firstName, "Renamed");
  assert.equal(found.plan, undefined, "null cleared the custom property");
  assert.deepEqual(found.mailingLists, { [listId]: true });

  assert.equal((await loops.deleteContact({ email: "sdk.user@example.com" })).success, true);
  assert.deepEqual(await loops.findContact({ email: "sdk.user@example.com" }), []);
  await assert.rejects(
    loops.deleteContact({ email: "sdk.user@example.com" }),
    (e) => e instanceof APIError && e.statusCode === 404,
  );
});

test("events: send creates the contact and records the event", async () => {
  const loops = client();
  const sent = await loops.sendEvent({
    email: "sdk.event@example.com",
    eventName: "signup",
    eventProperties: { plan: "pro", seats: 3 },
    contactProperties: { firstName: "Eve" },
    headers: { "Idempotency-Key": "sdk-event-1" },
  });
  assert.equal(sent.success, true);
  const [contact] = await loops.findContact({ email: "sdk.event@example.com" });
  assert.equal(contact.firstName, "Eve");
  await assert.rejects(
    loops.sendEvent({ email: "sdk.event@example.com", eventName: "signup", headers: { "Idempotency-Key": "sdk-event-1" } }),
    (e) => e instanceof APIError && e.statusCode === 409,
  );
});

test("mailing lists are listed", async () => {
  const lists = await client().listMailingLists();
  assert.ok(lists.some((l) => l.id === process.env.INLET_LIST_ID && l.name === "SDK list" && l.isPublic === true));
});
