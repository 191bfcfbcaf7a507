-- Shared by record_decisions.lua and accept_feedback.lua (prepended by feedback.py): where a
-- decision's record lives. A decision id is 8 hex digits of its Unix second + 24 random hex digits;
-- its record is one field of the hash of its time bucket ({prefix}{second // width}), named by the
-- id's last 26 digits (the low byte of the second + the random part: unique within a bucket of at
-- most 256 s). Returns nil for an id that is not 32 lowercase hex digits.
local function decision_slot(prefix, id, width)
  if #id ~= 32 or not string.match(id, '^[0-9a-f]+$') then return nil end
  local sec = tonumber(string.sub(id, 1, 8), 16)
  return prefix .. math.floor(sec / width), string.sub(id, 7), sec
end
