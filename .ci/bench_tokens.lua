-- wrk script of the benchmark's 100,000-user configurations: each
-- request carries the next token of a file, one per line, round-robin,
-- each thread starting at its own offset.
--   wrk -s .ci/bench_tokens.lua URL -- TOKENS_FILE PATH
local tokens, path, idx = {}, "/", 0
local threads = 0

function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
end

function init(args)
  path = args[2] or "/"
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  assert(#tokens > 0, "no tokens in " .. args[1])
  idx = (offset or 0) * math.floor(#tokens / 2)
end

function request()
  idx = idx % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[idx] })
end
