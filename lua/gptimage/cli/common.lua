-- gptimage.cli.common: what every part of the `gptimage` command shares.
--
-- The exit codes, the output streams (swappable for specs that drive the
-- command in-process), usage errors (raised with a mark that main turns
-- into exit 2), the money and count wording, the wall clock, loading the
-- module and making a client from the connection flags.
--
-- Contract: usage_error raises and never returns; every other function
-- returns. Nothing here writes unless asked to.

local common = {}

common.EXIT = {
  ok = 0,          -- everything asked for is done
  failed = 1,      -- some requests or entries failed
  usage = 2,       -- bad arguments, bad manifest, missing API key
  budget = 3,      -- the estimate is over --budget, or the budget ran out
  pending = 4,     -- the batch is not finished yet
  internal = 70,   -- a bug in gptimage
  interrupted = 130,
}

common.EXIT_CODES_HELP = [[
Exit codes:
  0    done: every image was built, collected or already up to date
  1    some requests or entries failed (the others were built; run again to
       retry only the failed ones)
  2    usage error: bad option, bad manifest or missing API key (nothing sent)
  3    budget: the estimate is over --budget (nothing sent), or the budget was
       reached during the run and entries were left undone
  4    the batch is not finished yet (batch collect without --wait)
  70   internal error in gptimage (please report it)
  130  interrupted (finished images are kept; run again to continue)]]

-- Where results (out) and progress and messages (err) go.
common.streams = { out = io.stdout, err = io.stderr }

common.unpack_list = table.unpack or unpack

-- Usage errors travel as strings with this mark up to main.
common.USAGE_MARK = "\0gptimage-usage\0"

function common.usage_error(message)
  error(common.USAGE_MARK .. message, 0)
end
local usage_error = common.usage_error

function common.say(stream, ...)
  stream:write(...)
  stream:write("\n")
end

function common.dollars(amount)
  if amount == nil then
    return "unknown"
  end
  if amount < 1 then
    return string.format("$%.4f", amount)
  end
  return string.format("$%.2f", amount)
end

function common.plural(count, word, words)
  return string.format("%d %s", count, count == 1 and word or (words or word .. "s"))
end

-- Seconds of a monotonic clock: only differences mean anything.
function common.wall_clock()
  return require("gptimage").os.clock()
end

function common.load_gptimage()
  local ok, gptimage = pcall(require, "gptimage")
  if not ok then
    usage_error("cannot load the gptimage module (" .. tostring(gptimage):match("^[^\n]*")
      .. "); install it (luarocks make, or cmake --install) or put gptimage.so on LUA_CPATH")
  end
  return gptimage
end

function common.concat(...)
  local all = {}
  for _, list in ipairs({ ... }) do
    for _, item in ipairs(list) do
      all[#all + 1] = item
    end
  end
  return all
end

function common.make_client(values, gptimage)
  local env_name = values.api_key_env or "OPENAI_API_KEY"
  local key = os.getenv(env_name)
  if key == nil or key == "" then
    usage_error(string.format("no API key: set %s (export %s=sk-...) or name the variable that "
      .. "holds it with --api-key-env; --dry-run and estimate work without one", env_name, env_name))
  end
  local ok, client = pcall(gptimage.new, {
    api_key = key, base_url = values.base_url, organization = values.organization,
    project = values.project, timeout = values.timeout, max_retries = values.max_retries,
  })
  if not ok then
    usage_error(tostring(client))
  end
  return client
end

return common
