-- gptimage.cli.errors: errors as the command shows them.
--
-- The fields of an error for --json output, its one-line description, and
-- a hint of what the user can do about it.
--
-- Contract: pure functions of the error (a gptimage.Error table or any
-- value); they never raise.

local errors = {}

function errors.error_fields(err)
  if type(err) ~= "table" then
    return { kind = "error", message = tostring(err) }
  end
  return { kind = err.kind, status = err.status, code = err.code, type = err.type,
           param = err.param, message = err.message, request_id = err.request_id, attempts = err.attempts }
end

function errors.describe_error(err)
  if type(err) ~= "table" then
    return tostring(err)
  end
  local text = tostring(err.kind or "error") .. " error"
  if err.status then
    text = text .. " " .. tostring(err.status)
  end
  if err.code then
    text = text .. " (" .. tostring(err.code) .. ")"
  end
  text = text .. ": " .. tostring(err.message or "")
  if type(err.attempts) == "number" and err.attempts > 1 then
    text = text .. string.format(" (after %d attempts)", err.attempts)
  end
  return text
end

-- What the user can do about an error, or nil.
function errors.error_hint(err, values)
  if type(err) ~= "table" then
    return nil
  end
  local key_name = (values and values.api_key_env) or "OPENAI_API_KEY"
  if err.status == 401 then
    return "the API key was refused: check " .. key_name
  elseif err.status == 403 then
    return "this key may not use that model or endpoint: check the organization's access"
  elseif err.status == 429 then
    return "rate limit or quota reached: wait and run again, lower -j, or check the account's billing"
  elseif err.code == "moderation_blocked" then
    return "the safety system refused the prompt: rephrase it"
  elseif err.kind == "network" then
    return "could not reach the API: check the network, proxy or --base-url"
  elseif err.kind == "timeout" then
    return "no answer in time: raise --timeout (high quality images can take minutes)"
  elseif err.kind == "io" then
    return "check that the output folder exists or can be created and is writable"
  end
  return nil
end

return errors
