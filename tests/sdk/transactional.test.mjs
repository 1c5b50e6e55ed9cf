// Transactional email through the official `loops` SDK against a running Inlet: the
// transactional-emails resource, the draft's content through email messages, publishing,
// and sending (data variables, attachments, Idempotency-Key, addToAudience, unsubscribed
// recipients). Run by the Rust integration test `loops_sdk_sends_transactional_email`,
// which starts Inlet with a real SMTP server (INLET_API_ROOT, INLET_API_KEY) and then
// checks what the server received.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LoopsClient, APIError } from "loops";

function client() {
  const loops = new LoopsClient(process.env.INLET_API_KEY);
  loops.apiRoot = process.env.INLET_API_ROOT;
  return loops;
}

const rejectsWith = (status, check = () => true) => (e) =>
  e instanceof APIError && e.statusCode === status && check(e.json);

// Shared across the tests below, which node:test runs in order.
let reset; // the transactional email being published and sent
let unpublished;

test("transactional emails: create, update, get, list with cursors", async () => {
  const loops = client();
  const created = await loops.createTransactionalEmail({ name: "Password reset" });
  assert.match(created.id, /^tx_/);
  assert.equal(created.name, "Password reset");
  assert.match(created.draftEmailMessageId, /^tpl_/);
  assert.equal(created.publishedEmailMessageId, null);
  assert.equal(created.transactionalGroupId, null);
  assert.deepEqual(created.dataVariables, []);
  assert.match(created.draftEmailMessageContentRevisionId, /^rev_/);
  assert.ok(created.url.endsWith(`/console/transactional/${created.id}`), created.url);
  assert.ok(!Number.isNaN(Date.parse(created.createdAt)));

  const renamed = await loops.updateTransactionalEmail(created.id, { name: "Reset your password" });
  assert.equal(renamed.name, "Reset your password");
  assert.equal(renamed.draftEmailMessageId, created.draftEmailMessageId);
  const grouped = await loops.updateTransactionalEmail(created.id, { transactionalGroupId: "grp_security" });
  assert.equal(grouped.transactionalGroupId, "grp_security");
  const got = await loops.getTransactionalEmail(created.id);
  assert.equal(got.name, "Reset your password");
  assert.equal(got.transactionalGroupId, "grp_security");
  await assert.rejects(loops.getTransactionalEmail("tx_missing"), rejectsWith(404));
  await assert.rejects(loops.updateTransactionalEmail(created.id, {}), rejectsWith(400));
  reset = got;

  unpublished = await loops.createTransactionalEmail({ name: "Never published", transactionalGroupId: "grp_other" });
  assert.equal(unpublished.transactionalGroupId, "grp_other");
  for (let i = 0; i < 10; i++) {
    await loops.createTransactionalEmail({ name: `Filler ${i}` });
  }

  // 12 in all, newest first, 10 a page.
  const first = await loops.listTransactionalEmails({ perPage: 10 });
  assert.equal(first.pagination.totalResults, 12);
  assert.equal(first.pagination.returnedResults, 10);
  assert.equal(first.pagination.perPage, 10);
  assert.equal(first.pagination.totalPages, 2);
  assert.equal(typeof first.pagination.nextCursor, "string");
  assert.ok(first.pagination.nextPage.includes(`cursor=${first.pagination.nextCursor}`));
  assert.equal(first.data[0].name, "Filler 9", "newest first");
  const second = await loops.listTransactionalEmails({ perPage: 10, cursor: first.pagination.nextCursor });
  assert.equal(second.pagination.returnedResults, 2);
  assert.equal(second.pagination.nextCursor, null);
  assert.equal(second.pagination.nextPage, null);
  const ids = [...first.data, ...second.data].map((t) => t.id);
  assert.equal(new Set(ids).size, 12, "no email on two pages");
  assert.ok(ids.includes(reset.id) && ids.includes(unpublished.id));
  assert.equal(ids.at(-1), reset.id, "the oldest last");
  const defaults = await loops.listTransactionalEmails();
  assert.equal(defaults.pagination.perPage, 20);
  assert.equal(defaults.data.length, 12);
  await assert.rejects(loops.listTransactionalEmails({ perPage: 51 }), rejectsWith(400));
});

test("the draft is edited through email messages, then published", async () => {
  const loops = client();
  const draftId = reset.draftEmailMessageId;
  const draft = await loops.getEmailMessage(draftId);
  assert.equal(draft.id, draftId);
  assert.equal(draft.transactionalId, reset.id);
  const firstRevision = draft.contentRevisionId;
  assert.match(firstRevision, /^rev_/);

  const edited = await loops.updateEmailMessage(draftId, {
    expectedRevisionId: firstRevision,
    subject: "Reset for {{ name }}",
    lmx: '<p>Hi {{ name }}, reset here: <a href="{{ resetUrl }}">{{ resetUrl }}</a></p>',
    fromName: "Acme Support",
    fromEmail: "support",
  });
  assert.equal(edited.subject, "Reset for {{ name }}");
  assert.equal(edited.fromName, "Acme Support");
  assert.equal(edited.fromEmail, "support@acme.test", "the username on INLET_EMAIL_FROM's domain");
  assert.notEqual(edited.contentRevisionId, firstRevision);
  assert.equal((await loops.getEmailMessage(draftId)).contentRevisionId, edited.contentRevisionId);

  // A stale revision is refused and changes nothing.
  await assert.rejects(
    loops.updateEmailMessage(draftId, { expectedRevisionId: firstRevision, subject: "Lost update" }),
    rejectsWith(409),
  );
  assert.equal((await loops.getEmailMessage(draftId)).subject, "Reset for {{ name }}");
  await assert.rejects(loops.updateEmailMessage(draftId, { fromEmail: "support@elsewhere.test" }), rejectsWith(400));
  await assert.rejects(loops.updateEmailMessage(draftId, { lmx: "{{ broken" }), rejectsWith(400));
  await assert.rejects(loops.updateEmailMessage(draftId, { lmx: "x".repeat(100 * 1024 + 1) }), rejectsWith(413));
  await assert.rejects(loops.getEmailMessage("tpl_missing"), rejectsWith(404));

  const published = await loops.publishTransactionalEmail(reset.id);
  assert.equal(published.publishedEmailMessageId, draftId, "the draft became the published message");
  assert.equal(published.draftEmailMessageId, null);
  assert.deepEqual(published.dataVariables, ["name", "resetUrl"]);
  assert.deepEqual((await loops.getTransactionalEmail(reset.id)).dataVariables, ["name", "resetUrl"]);
  await assert.rejects(loops.publishTransactionalEmail(reset.id), rejectsWith(400), "no draft left to publish");
  await assert.rejects(loops.updateEmailMessage(draftId, { subject: "Edited live" }), rejectsWith(409));

  // A new draft starts as a copy of what is published; ensuring it again keeps it.
  const ensured = await loops.ensureTransactionalEmailDraft(reset.id);
  assert.match(ensured.draftEmailMessageId, /^tpl_/);
  assert.notEqual(ensured.draftEmailMessageId, draftId);
  assert.equal(ensured.publishedEmailMessageId, draftId);
  assert.match(ensured.draftEmailMessageContentRevisionId, /^rev_/);
  const copy = await loops.getEmailMessage(ensured.draftEmailMessageId);
  assert.equal(copy.subject, "Reset for {{ name }}");
  assert.equal(copy.contentRevisionId, ensured.draftEmailMessageContentRevisionId);
  const again = await loops.ensureTransactionalEmailDraft(reset.id);
  assert.equal(again.draftEmailMessageId, ensured.draftEmailMessageId);
  // Editing the new draft does not change what is sent until it is published.
  await loops.updateEmailMessage(ensured.draftEmailMessageId, { subject: "Draft only {{ name }}" });
});

const attachment = {
  filename: "note.txt",
  contentType: "text/plain",
  data: Buffer.from("hello attachment").toString("base64"),
};

async function emailsTo(email) {
  const response = await fetch(`${process.env.INLET_API_ROOT}v1/emails?email=${encodeURIComponent(email)}`, {
    headers: { Authorization: `Bearer ${process.env.INLET_API_KEY}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

async function sentTo(email) {
  for (let i = 0; i < 300; i++) {
    const rows = await emailsTo(email);
    if (rows.some((r) => r.status === "sent")) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no sent email to ${email}: ${JSON.stringify(await emailsTo(email))}`);
}

test("sending: errors in Loops' shapes, then one email per Idempotency-Key", async () => {
  const loops = client();
  const send = (fields) => loops.sendTransactionalEmail({ transactionalId: reset.id, email: "ada.tx@example.com", ...fields });

  await assert.rejects(
    send({ dataVariables: { name: "Ada" } }),
    rejectsWith(400, (json) =>
      json.type === "nestedError" && json.success === false && json.transactionalId === reset.id &&
      json.error.path === "dataVariables" && json.error.message === "Missing required fields: resetUrl"),
  );
  await assert.rejects(
    send({}),
    rejectsWith(400, (json) => json.success === false && json.path === "dataVariables" && json.message.includes("required fields")),
  );
  await assert.rejects(
    loops.sendTransactionalEmail({ transactionalId: "tx_missing", email: "ada.tx@example.com" }),
    rejectsWith(404, (json) => json.success === false && json.path === "transactionalId"),
  );
  await assert.rejects(
    loops.sendTransactionalEmail({ transactionalId: unpublished.id, email: "ada.tx@example.com" }),
    rejectsWith(400, (json) => json.path === "transactionalId" && json.message.includes("not published")),
  );
  const variables = { name: "Ada", resetUrl: "https://example.com/r/1" };
  await assert.rejects(
    send({ dataVariables: variables, attachments: [{ ...attachment, data: "not base64!" }] }),
    rejectsWith(400, (json) => json.path === "attachments" && json.message.includes("base64")),
  );
  assert.deepEqual(await emailsTo("ada.tx@example.com"), [], "nothing refused was sent");

  const headers = { "Idempotency-Key": "reset-ada-1" };
  const sent = await send({ dataVariables: variables, attachments: [attachment], addToAudience: true, headers });
  assert.deepEqual(sent, { success: true });
  await assert.rejects(
    send({ dataVariables: variables, attachments: [attachment], addToAudience: true, headers }),
    rejectsWith(409),
    "the same Idempotency-Key sends once",
  );
  const rows = await sentTo("ada.tx@example.com");
  assert.equal(rows.length, 1);
  assert.equal(rows[0].transactionalId, reset.id);
  assert.equal(rows[0].workflowId, reset.id);
  assert.equal(rows[0].templateId, reset.draftEmailMessageId, "the published message was sent");
  assert.equal(rows[0].subject, "Reset for Ada");
  const [contact] = await loops.findContact({ email: "ada.tx@example.com" });
  assert.ok(contact, "addToAudience created the contact");
});

test("transactional email reaches unsubscribed contacts and addresses outside the audience", async () => {
  const loops = client();
  await loops.createContact({ email: "bob.tx@example.com", properties: { subscribed: false } });
  const variables = { name: "Bob", resetUrl: "https://example.com/r/2" };
  await loops.sendTransactionalEmail({ transactionalId: reset.id, email: "bob.tx@example.com", dataVariables: variables });
  assert.equal((await sentTo("bob.tx@example.com"))[0].subject, "Reset for Bob");

  await loops.sendTransactionalEmail({
    transactionalId: reset.id,
    email: "carol.tx@example.com",
    dataVariables: { name: "Carol", resetUrl: "https://example.com/r/3" },
  });
  assert.equal((await sentTo("carol.tx@example.com"))[0].subject, "Reset for Carol");
  assert.deepEqual(await loops.findContact({ email: "carol.tx@example.com" }), [], "no contact without addToAudience");
});

test("a suppressed address gets no transactional email: the send is recorded suppressed", async () => {
  const loops = client();
  const email = process.env.INLET_SUPPRESSED_EMAIL;
  const status = await loops.checkContactSuppression({ email });
  assert.equal(status.isSuppressed, true, "suppressed before the test, as a hard bounce leaves it");
  const sent = await loops.sendTransactionalEmail({
    transactionalId: reset.id,
    email,
    dataVariables: { name: "Dan", resetUrl: "https://example.com/r/4" },
  });
  assert.equal(sent.success, true);
  for (let i = 0; i < 300; i++) {
    const rows = await emailsTo(email);
    if (rows.length > 0 && rows[0].status !== "queued") {
      assert.deepEqual(rows.map((r) => r.status), ["suppressed"]);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`no recorded send to ${email}: ${JSON.stringify(await emailsTo(email))}`);
});
