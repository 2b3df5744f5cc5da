-- Tries to leave the sandbox: every one of these must fail with its line.
function os_execute(text, job)
  os.execute("touch /tmp/vidgen-hook-escaped")
  return text
end

function io_open(text, job)
  local f = io.open("/etc/passwd")
  return f:read("a")
end

function require_os(text, job)
  return require("os").getenv("HOME")
end

function load_code(text, job)
  return load("return 1")()
end

function dump(text, job)
  return string.dump(os_execute)
end

function write_job(text, job)
  job.question = "rewritten"
  return text
end
