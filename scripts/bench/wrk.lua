-- wrk script of Inlet's benchmark: every thread posts the signed deliveries of its own file
-- (one "signature<TAB>body" line each, prepared by scripts/bench.py).
--
-- wrk ... -s wrk.lua <url> -- <file prefix> <mode> [delay ms]
--   mode "loop":  cycle through the file for the run's duration
--   mode "once":  post each line once, then only GET /health/live (preloading an exact
--                 backlog); once every line has an answer, a thread writes how many got
--                 202 into <prefix>-<id>.done, and the caller then stops wrk
--   delay:        pause per connection between requests (paced, open-loop-ish load)

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  prefix = args[1]
  mode = args[2] or "loop"
  pause = tonumber(args[3] or "0")
  lines = {}
  for line in io.lines(prefix .. "-" .. id .. ".txt") do
    lines[#lines + 1] = line
  end
  -- wrk calls request() once in the first thread's state before the run, to check the
  -- script (script_verify_request); that call must not use up a line.
  next_line = (id == 1) and -1 or 0
  accepted = 0
  answered = 0
end

function request()
  next_line = next_line + 1
  if next_line < 1 then
    return wrk.format("GET", "/health/live")
  end
  if next_line > #lines then
    if mode == "once" then
      -- Nothing left to post: a request that queues nothing, until wrk is stopped.
      return wrk.format("GET", "/health/live")
    end
    next_line = 1
  end
  local sig, body = lines[next_line]:match("^([^\t]*)\t(.*)$")
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Stripe-Signature"] = sig,
  }, body)
end

function response(status, headers, body)
  -- A delivery is answered 202 (accepted) or an error (e.g. 503 when the queue timed out);
  -- 200 answers the health checks that follow the last line.
  if mode == "once" and status ~= 200 then
    answered = answered + 1
    if status == 202 then
      accepted = accepted + 1
    end
    if answered == #lines then
      -- Every line has its answer: tell the caller how many are in (wrk itself runs until
      -- its duration or SIGINT).
      local marker = io.open(prefix .. "-" .. id .. ".done", "w")
      marker:write(tostring(accepted))
      marker:close()
    end
  end
end

function delay()
  return pause
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max))
end
