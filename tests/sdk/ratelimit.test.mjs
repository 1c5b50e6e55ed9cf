// The SDK's RateLimitExceededError path against a running Inlet at Loops' default limit
// (10 requests a second per API key). Run by the Rust test
// `the_sdk_sees_loops_rate_limit_and_recovers`, which passes INLET_API_ROOT and INLET_API_KEY.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LoopsClient, RateLimitExceededError } from "loops";

function client() {
  const loops = new LoopsClient(process.env.INLET_API_KEY);
  loops.apiRoot = process.env.INLET_API_ROOT;
  return loops;
}

test("a burst past the limit gets RateLimitExceededError, then the key works again", async () => {
  const loops = client();
  const answers = await Promise.allSettled(Array.from({ length: 30 }, () => loops.testApiKey()));
  const ok = answers.filter((a) => a.status === "fulfilled");
  const limited = answers.filter((a) => a.status === "rejected").map((a) => a.reason);
  assert.ok(ok.length >= 10 && ok.length < 30, `${ok.length} let through`);
  assert.ok(limited.length > 0);
  for (const e of limited) {
    assert.ok(e instanceof RateLimitExceededError, String(e));
    assert.equal(e.limit, 10);
    assert.equal(e.remaining, 0);
  }
  // The bucket refills at ten a second.
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await loops.testApiKey()).success, true);
});
