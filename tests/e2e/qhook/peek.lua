-- Reads an artifact of a stage that is not an input of the hooked stage.
function peek(text, job)
  return text .. " | explain=" .. tostring(job.artifacts.explain)
end
