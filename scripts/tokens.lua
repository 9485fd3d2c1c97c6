-- wrk script for pyk's single-use request tokens: every request takes a token of its own
-- from a file made by `pyk sign GET PATH --count N` (one a line; thread k of T takes
-- lines k, k+T, k+2T, …). A token is good once, so a fixed Authorization header would
-- be answered 401 after the first request.
-- Usage: wrk -s scripts/tokens.lua … URL -- TOKEN_FILE THREADS
local thread_count = 0
function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
end

local tokens, used = {}, 0
function init(args)
  local file, threads, n = args[1], tonumber(args[2]), 0
  for line in io.lines(file) do
    if n % threads == id then tokens[#tokens + 1] = line end
    n = n + 1
  end
end

function request()
  used = used + 1
  return wrk.format(nil, nil, { ["Authorization"] = tokens[used] })
end
