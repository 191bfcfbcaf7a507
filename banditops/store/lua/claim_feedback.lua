-- A fold consumer's claim, in one round trip. KEYS: feedback stream, the consumer's marker.
-- ARGV: group, consumer, max_entries ('' = the pending claim only, never a new one), marker TTL (s).
-- Returns {marker_value_or_false, entries_json}: the consumer's pending claim if it has one (a
-- retry sees the WHOLE earlier claim: no COUNT), else a new claim of up to max_entries. A batch id
-- claims new entries only once in its life: the marker (the claim's server time in ms) is set
-- before the claim and kept only if the claim took something, so a round that found nothing
-- leaves no key behind. entries_json is [[id, [field, value, ...]], ...]: one string for the
-- client to parse instead of a RESP reply of six bulk strings per entry.
local stream, marker = KEYS[1], KEYS[2]
local group, consumer, max_entries, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function entries_of(reply)
  if not reply or not reply[1] then return {} end
  return reply[1][2]
end
local entries = entries_of(redis.call('XREADGROUP', 'GROUP', group, consumer, 'STREAMS', stream, '0'))
if #entries == 0 and max_entries ~= '' then
  local t = redis.call('TIME')
  local ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  if redis.call('SET', marker, ms, 'NX', 'EX', ttl) then
    entries = entries_of(redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max_entries,
                                    'STREAMS', stream, '>'))
    if #entries == 0 then redis.call('DEL', marker) end
  end
end
local value = redis.call('GET', marker)
if #entries == 0 then
  redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)  -- an empty consumer carries no state
  return {value, '[]'}
end
return {value, cjson.encode(entries)}
