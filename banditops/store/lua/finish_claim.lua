-- Complete a fold consumer's claim atomically. KEYS: feedback stream, dead-letter stream.
-- ARGV: group, consumer, dead-letter maxlen, dead letters JSON ([[field, value, ...], ...]).
-- Writes the dead letters, acknowledges the consumer's WHOLE pending list (the claim it read: a
-- batch id claims once, so its list cannot have grown) and drops the consumer. One script, so a
-- crash leaves either all of it or none: the retry re-applies (refused as duplicate) and finishes.
-- The ids never travel back from the client. Returns the number of entries acknowledged.
local stream, dead = KEYS[1], KEYS[2]
local group, consumer, dead_maxlen = ARGV[1], ARGV[2], ARGV[3]
for _, fields in ipairs(cjson.decode(ARGV[4])) do
  redis.call('XADD', dead, 'MAXLEN', '~', dead_maxlen, '*', unpack(fields))
end
local acked = 0
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
