-- Switch mode with its event(s), refused when the caller's epoch is no longer current.
-- ARGV: prefix, mode, reason, expected_epoch ('' = any), fields_json, events_maxlen, reason_is_event
-- Returns {accepted (1/0), epoch, mode_now}. Switching to the current mode writes nothing.
local p, new_mode, reason, expected, fields_json, events_maxlen, reason_is_event =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local st = p .. ':state'
local s = redis.call('HMGET', st, 'epoch', 'mode')
if not s[1] then return {'not_initialized'} end
local epoch, mode = tonumber(s[1]), s[2]
if expected ~= '' and tonumber(expected) ~= epoch then return {0, epoch, mode} end
if mode == new_mode then return {1, epoch, mode} end
redis.call('HSET', st, 'mode', new_mode)
if new_mode ~= 'RELEARNING' then redis.call('HSET', st, 'explore_remaining', 0) end
add_event(p, events_maxlen, 'mode_changed',
  merge_json(fields_json, {from = mode, to = new_mode, reason = reason, epoch = epoch}))
if reason_is_event == '1' then
  add_event(p, events_maxlen, reason, merge_json(fields_json, {epoch = epoch, mode = new_mode}))
end
publish(p, 'mode', epoch, new_mode)
return {1, epoch, new_mode}
