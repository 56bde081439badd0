-- wrk script for the login benchmark (.ci/bench): every request carries a
-- WeChat login code that was never used before, since the simulator
-- accepts each code once (40163 after that).
--
--   wrk ... -s .ci/bench_login.lua http://127.0.0.1:9414 -- login   <prefix>
--   wrk ... -s .ci/bench_login.lua http://127.0.0.1:9416 -- session <prefix> <appid> <secret>
--
-- "login" POSTs {"code": ...} to /login (wechat_login). "session" GETs the
-- simulator's /sns/jscode2session with the same kind of code, which is the
-- call wechat_login itself makes, through a plain reverse_proxy. Codes are
-- "<prefix>t<thread>.<n>": the part before the first '.' names the user,
-- so each thread logs in one user again and again with fresh codes, and
-- the prefix keeps codes unique across runs against the same simulator.

local threads = 0

-- setup runs in the main Lua state, once per thread, before init.
function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

-- init runs in each thread's own Lua state; tid was set by setup.
function init(args)
   mode   = args[1] or "login"
   prefix = (args[2] or "bench") .. "t" .. tid .. "."
   appid  = args[3] or ""
   secret = args[4] or ""
   n = 0
   if mode == "login" then
      headers = { ["Content-Type"] = "application/json" }
   elseif mode == "session" then
      headers = {}
   else
      error("bench_login.lua: mode must be login or session, not " .. tostring(mode))
   end
end

function request()
   n = n + 1
   local code = prefix .. n
   if mode == "login" then
      return wrk.format("POST", "/login", headers, '{"code":"' .. code .. '"}')
   end
   return wrk.format("GET", "/sns/jscode2session?appid=" .. appid .. "&secret=" .. secret ..
      "&js_code=" .. code .. "&grant_type=authorization_code", headers)
end
