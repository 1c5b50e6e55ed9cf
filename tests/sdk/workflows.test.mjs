// A workflow graph built through the official `loops` SDK only, against a running Inlet:
// trigger on `stripe:invoice.payment_failed`, an exit-on-payment audience filter, a
// reminder, a 2-second timer (Inlet's `s` unit), a branch on the contact's `plan` with an
// email on each path; each email's content set with updateEmailMessage; the tree read back;
// and a stale expectedRevisionId refused with a 409. Run by the Rust integration test
// `workflow_graph_api::the_sdk_builds_a_graph_that_webhooks_drive`, which reads the
// `WORKFLOW_ID=` line this prints, starts the workflow and drives it with signed webhooks.
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

test("build the payment-failed reminder graph through the SDK", async () => {
  const loops = client();
  let wf = await loops.createWorkflow({
    name: "Payment failed",
    description: "Remind, wait, then by plan",
    mailingListId: null,
  });
  assert.match(wf.id, /^wf_/);
  assert.equal(wf.status, "Draft");
  assert.ok(wf.url.endsWith(`/console/workflows/${wf.id}`), wf.url);
  assert.equal(Object.keys(wf.nodes).length, 2, "a blank trigger and an exit");
  const root = wf.rootNodeId;
  assert.equal(wf.nodes[root].typeName, "BlankTrigger");
  let rev = wf.workflowRevisionId;

  // The trigger.
  const trig = await loops.updateWorkflowNode(wf.id, root, {
    expectedRevisionId: rev,
    payload: { typeName: "EventTrigger", eventName: "stripe:invoice.payment_failed" },
  });
  assert.equal(trig.typeName, "EventTrigger");
  assert.equal(trig.eventName, "stripe:invoice.payment_failed");
  rev = trig.workflowRevisionId;

  // The reminder, after the trigger.
  const reminder = await loops.createWorkflowNode(wf.id, {
    expectedRevisionId: rev,
    insertMode: "after",
    nodeTypeName: "SendEmailAction",
    fromNodeId: root,
  });
  assert.equal(reminder.node.typeName, "SendEmailAction");
  assert.match(reminder.node.emailMessageId, /^tpl_/);
  rev = reminder.workflow.workflowRevisionId;

  // The exit on payment: an audience filter right after the trigger, applying downstream.
  const exitFilter = await loops.createWorkflowNode(wf.id, {
    expectedRevisionId: rev,
    insertMode: "between",
    nodeTypeName: "AudienceFilter",
    fromNodeId: root,
    toNodeId: reminder.node.id,
  });
  rev = exitFilter.workflow.workflowRevisionId;
  const exitSet = await loops.updateWorkflowNode(wf.id, exitFilter.node.id, {
    expectedRevisionId: rev,
    payload: {
      appliesDownstream: true,
      audienceFilter: {
        match: "all",
        conditions: [{ type: "event", eventName: "stripe:invoice.paid", negate: true }],
      },
    },
  });
  assert.equal(exitSet.appliesDownstream, true);
  rev = exitSet.workflowRevisionId;

  // The timer, after the reminder: two seconds.
  const timer = await loops.createWorkflowNode(wf.id, {
    expectedRevisionId: rev,
    insertMode: "after",
    nodeTypeName: "TimerAction",
    fromNodeId: reminder.node.id,
  });
  rev = timer.workflow.workflowRevisionId;
  const timerSet = await loops.updateWorkflowNode(wf.id, timer.node.id, {
    expectedRevisionId: rev,
    payload: { amount: 2, unit: "s" },
  });
  assert.deepEqual([timerSet.amount, timerSet.unit], [2, "s"]);
  rev = timerSet.workflowRevisionId;

  // The branch, after the timer, with its two default audience-filter paths.
  const branch = await loops.createWorkflowNode(wf.id, {
    expectedRevisionId: rev,
    insertMode: "after",
    nodeTypeName: "BranchNode",
    fromNodeId: timer.node.id,
  });
  assert.equal(branch.node.createdChildNodes.filter((n) => n.typeName === "AudienceFilter").length, 2);
  rev = branch.workflow.workflowRevisionId;
  const [pro, other] = branch.node.nextNodeIds;
  const proSet = await loops.updateWorkflowNode(wf.id, pro, {
    expectedRevisionId: rev,
    payload: {
      audienceFilter: {
        match: "all",
        conditions: [{ type: "property", key: "plan", operator: "equals", value: "pro" }],
      },
    },
  });
  rev = proSet.workflowRevisionId;

  // An email on each path.
  const sendA = await loops.createWorkflowNode(wf.id, {
    expectedRevisionId: rev,
    insertMode: "after",
    nodeTypeName: "SendEmailAction",
    fromNodeId: pro,
  });
  rev = sendA.workflow.workflowRevisionId;
  const sendB = await loops.createWorkflowNode(wf.id, {
    expectedRevisionId: rev,
    insertMode: "after",
    nodeTypeName: "SendEmailAction",
    fromNodeId: other,
  });
  rev = sendB.workflow.workflowRevisionId;

  // The emails' content.
  for (const [node, subject, body] of [
    [reminder.node, "Your payment failed", "<p>Please update your card.</p>"],
    [sendA.node, "Pro: keep your plan", "<p>Your pro plan is on hold.</p>"],
    [sendB.node, "Your account is on hold", "<p>Update your card to continue.</p>"],
  ]) {
    const m = await loops.updateEmailMessage(node.emailMessageId, { subject, lmx: body });
    assert.equal(m.subject, subject);
  }

  // The tree, as getWorkflow shows it.
  wf = await loops.getWorkflow(wf.id);
  const n = wf.nodes;
  assert.equal(wf.workflowRevisionId, rev);
  assert.deepEqual(n[root].nextNodeIds, [exitFilter.node.id]);
  assert.deepEqual(n[exitFilter.node.id].nextNodeIds, [reminder.node.id]);
  assert.deepEqual(n[reminder.node.id].nextNodeIds, [timer.node.id]);
  assert.deepEqual(n[timer.node.id].nextNodeIds, [branch.node.id]);
  assert.deepEqual(n[branch.node.id].nextNodeIds, [pro, other]);
  assert.deepEqual(n[pro].nextNodeIds, [sendA.node.id]);
  assert.deepEqual(n[other].nextNodeIds, [sendB.node.id]);
  assert.equal(n[other].audienceFilter, null, "the default path has no conditions");
  for (const send of [sendA, sendB]) {
    const [end] = n[send.node.id].nextNodeIds;
    assert.equal(n[end].typeName, "ExitNode");
  }
  assert.equal(n[root].eventName, "stripe:invoice.payment_failed");
  assert.equal(n[timer.node.id].unit, "s");
  const node = await loops.getWorkflowNode(wf.id, pro);
  assert.equal(node.audienceFilter.conditions[0].key, "plan");
  assert.equal(node.workflowId, wf.id);

  // A concurrent edit from an older revision is refused, and changes nothing.
  await assert.rejects(
    loops.updateWorkflow(wf.id, { expectedRevisionId: branch.workflow.workflowRevisionId, name: "Stale" }),
    rejectsWith(409, (j) => j.success === false && /changed/.test(j.message)),
  );
  await assert.rejects(
    loops.createWorkflowNode(wf.id, {
      expectedRevisionId: timer.workflow.workflowRevisionId,
      insertMode: "after",
      nodeTypeName: "TimerAction",
      fromNodeId: sendA.node.id,
    }),
    rejectsWith(409),
  );
  assert.equal((await loops.getWorkflow(wf.id)).workflowRevisionId, rev);

  // Listed.
  const listed = await loops.listWorkflows({ perPage: 10 });
  assert.ok(listed.data.some((w) => w.id === wf.id));
  console.log(`WORKFLOW_ID=${wf.id}`);
});
