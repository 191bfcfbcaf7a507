-- Complete a fold consumer's claim atomically. KEYS: feedback stream, dead-letter stream.
-- ARGV: group, consumer, dead-letter maxlen, dead letters JSON ([[field, value, ...], ...]),
-- the ids of the claim the client read (space-joined).
-- Writes the dead letters, acknowledges the claim and drops the consumer. A batch id (or a chunk of
-- one) claims once, so its pending list is exactly the claim it read; should anything else be pending
-- under it, the WHOLE pending list is acknowledged only after walking it, as it was claimed by this
-- consumer and read by no one else. One script, so a crash leaves either all of it or none: the
-- retry re-applies (refused as duplicate) and finishes. Returns the number of entries acknowledged.
local stream, dead = KEYS[1], KEYS[2]
local group, consumer, dead_maxlen = ARGV[1], ARGV[2], ARGV[3]
for _, fields in ipairs(cjson.decode(ARGV[4])) do
  redis.call('XADD', dead, 'MAXLEN', '~', dead_maxlen, '*', unpack(fields))
end
local acked = 0
local ids, n = {}, 0
for id in string.gmatch(ARGV[5], '%S+') do
  n = n + 1
  ids[n] = id
  if n == 1000 then  -- in slices: Lua's C stack holds a few thousand values
    acked = acked + redis.call('XACK', stream, group, unpack(ids))
    ids, n = {}, 0
  end
end
if n > 0 then acked = acked + redis.call('XACK', stream, group, unpack(ids)) end
repeat
  local pending = redis.call('XPENDING', stream, group, '-', '+', 1000, consumer)
  if #pending > 0 then
    local ids = {}
    for i, p in ipairs(pending) do ids[i] = p[1] end
    acked = acked + redis.call('XACK', stream, group, unpack(ids))
  end
until #pending < 1000
redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)
return acked
