-- Progress of `gptimage run` on stderr: a bar redrawn with carriage returns
-- when stderr is a terminal (a real pty from util-linux `script`), plain
-- lines when it is a pipe or a file.
local cjson = require "cjson"
local fake = require "helpers.server"
local util = require "helpers.util"
local fixture = require "helpers.fixture"
local cli = require "helpers.cli"

local q = fake.shell_quote

local function have(program)
  local first = os.execute("command -v " .. program .. " >/dev/null 2>&1")
  return first == true or first == 0
end

describe("progress on stderr", function()
  local srv, dir

  -- The command line of a run in dir; GPTIMAGE_PROGRESS is unset (unless
  -- given) so that the command decides from stderr itself.
  local function command(args, progress)
    return cli.command(dir, args, { OPENAI_API_KEY = "sk-test-tty", OPENAI_BASE_URL = srv.base_url,
                                    GPTIMAGE_PROGRESS = progress or false })
  end

  local function exit_code(file)
    return tonumber(util.read(file))
  end

  fixture.each({ server = {}, dir = true }, function(f) srv, dir = f.srv, f.dir end)

  setup(function()
    assert(have("script"), "util-linux `script` is needed to run the command under a pty")
  end)
  before_each(function()
    local entries = {}
    for i = 1, 3 do
      entries[i] = { prompt = "icon " .. i, output = "icons/i" .. i .. ".png" }
    end
    util.write(dir .. "/m.json", cjson.encode({ defaults = { quality = "low" }, entries = entries }))
  end)

  it("draws a bar with carriage-return updates on a terminal", function()
    local transcript = dir .. "/tty.txt"
    local code_file = dir .. "/code"
    -- script gives the command a pty as stdin, stdout and stderr and copies
    -- everything it writes to our stdout.
    os.execute("script -qfec " .. q(command({ "run", "m.json", "-j", "1" })) .. " /dev/null </dev/null >"
      .. q(transcript) .. " 2>&1; echo $? >" .. q(code_file))
    local output = util.read(transcript) or ""
    assert.equals(0, exit_code(code_file), output)
    assert.matches("\r[", output, 1, true)
    assert.matches("\27[K", output, 1, true)
    assert.matches("] 0/3", output, 1, true)
    assert.matches("] 1/3", output, 1, true)
    assert.matches("[########################] 3/3", output, 1, true)
    assert.matches("built icons/i2.png", output, 1, true)
    assert.matches("3 images built", output, 1, true)
    -- each bar update starts at the beginning of the line, over the last
    local redraws = select(2, output:gsub("\r%[", ""))
    assert.is_true(redraws >= 4, "expected at least 4 bar updates, saw " .. redraws)
    for i = 1, 3 do
      assert.is_true(util.is_png(util.read(dir .. "/icons/i" .. i .. ".png")))
    end
  end)

  it("writes plain lines, without carriage returns, to a pipe", function()
    local code_file = dir .. "/code"
    local pipe = io.popen(command({ "run", "m.json", "-j", "1" }) .. " 2>&1 | cat; echo $? >" .. q(code_file))
    local output = pipe:read("*a")
    pipe:close()
    assert.is_nil(output:find("\r", 1, true), output)
    assert.is_nil(output:find("\27", 1, true), output)
    assert.matches("[1/3] built icons/i1.png", output, 1, true)
    assert.matches("[2/3] built icons/i2.png", output, 1, true)
    assert.matches("[3/3] built icons/i3.png", output, 1, true)
    assert.matches("3 images built, 0 up to date, 0 failed", output, 1, true)
    assert.equals(3, #srv:requests())
  end)

  it("shows a spinner with the elapsed seconds while one generate waits, on a terminal only", function()
    srv:fault{ action = "delay", delay = 2.5 }   -- 1s is drawn well before the answer
    local transcript = dir .. "/tty.txt"
    local code_file = dir .. "/code"
    os.execute("script -qfec " .. q(command({ "generate", "-m", "gpt-image-1", "--quality", "low", "-o", "one.png",
      "a slow one" })) .. " /dev/null </dev/null >" .. q(transcript) .. " 2>&1; echo $? >" .. q(code_file))
    local output = util.read(transcript) or ""
    assert.equals(0, exit_code(code_file), output)
    assert.matches("\r[|/\\-] generating with gpt%-image%-1 0s", output)
    assert.matches("\r[|/\\-] generating with gpt%-image%-1 1s", output)
    -- the spinner is cleared before the result is printed
    assert.matches("\r\27%[Kone%.png", output)

    srv:fault{ action = "delay", delay = 0.3 }
    local pipe = io.popen(command({ "generate", "-m", "gpt-image-1", "--quality", "low", "-o", "two.png",
      "a piped one" }) .. " 2>&1 | cat")
    output = pipe:read("*a")
    pipe:close()
    assert.is_nil(output:find("\r", 1, true), output)
    assert.matches("generating with gpt-image-1\n", output, 1, true)
    assert.matches("two.png", output, 1, true)
  end)

  it("follows --progress and GPTIMAGE_PROGRESS over the terminal check", function()
    local log = dir .. "/err.txt"
    os.execute(command({ "run", "m.json", "--progress", "bar" }) .. " 2>" .. q(log))
    assert.matches("\r[", util.read(log), 1, true)
    os.remove(dir .. "/icons/i1.png")
    local transcript = dir .. "/tty.txt"
    os.execute("script -qfec " .. q(command({ "run", "m.json", "-q" })) .. " /dev/null </dev/null >" .. q(transcript))
    local output = util.read(transcript)
    assert.is_nil(output:find("\r[", 1, true), output)
    assert.is_nil(output:find("built icons", 1, true), output)
    assert.matches("1 image built, 2 up to date", output, 1, true)

    os.remove(dir .. "/icons/i2.png")
    os.execute("script -qfec " .. q(command({ "run", "m.json" }, "plain")) .. " /dev/null </dev/null >"
      .. q(transcript))
    output = util.read(transcript)
    assert.is_nil(output:find("\r[", 1, true), output)
    assert.matches("[1/1] built icons/i2.png", output, 1, true)

    os.remove(dir .. "/icons/i3.png")
    os.execute(command({ "run", "m.json" }, "bar") .. " 2>" .. q(log))
    assert.matches("\r[", util.read(log), 1, true)
    assert.matches("built icons/i3.png", util.read(log), 1, true)
  end)
end)
