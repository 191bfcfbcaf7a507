-- Open a new epoch: prior-only posterior, RELEARNING with a forced-exploration budget.
-- ARGV: prefix, reason, explore_budget, fields_json, events_maxlen, expected_epoch ('' = any),
--       dedupe_window_ms
-- Returns {opened (1/0), epoch_now}; 0 (nothing written) when expected_epoch is not current, so a
-- retried relearning task or a second drift sensor never opens a second epoch.
local p, reason, budget, fields_json, events_maxlen, expected, window_ms =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local st = p .. ':state'
local s = redis.call('HMGET', st, 'epoch', 'mode')
if not s[1] then return {'not_initialized'} end
local epoch, mode = tonumber(s[1]), s[2]
if expected ~= '' and tonumber(expected) ~= epoch then return {0, epoch} end
local new_epoch = epoch + 1
local new_mode = 'RELEARNING'
if budget <= 0 then new_mode = 'LEARNING' end
redis.call('HSET', st, 'epoch', int(new_epoch), 'mode', new_mode, 'explore_remaining', int(budget))
redis.call('HSET', p .. ':epoch:' .. new_epoch, 'pulls', 0, 'regret', 0, 'opened_ts', fmt(now_s()),
  'reason', reason)
-- The closed epoch's dedupe set only has to outlive retries of its last batches.
redis.call('PEXPIRE', p .. ':seen:' .. epoch, window_ms)
redis.call('PEXPIRE', p .. ':seen_floor:' .. epoch, window_ms)
add_event(p, events_maxlen, 'epoch_opened', merge_json(fields_json,
  {epoch = new_epoch, previous_epoch = epoch, reason = reason, explore_budget = budget, mode = new_mode}))
if mode ~= new_mode then
  add_event(p, events_maxlen, 'mode_changed', merge_json(fields_json,
    {from = mode, to = new_mode, reason = reason, epoch = new_epoch}))
end
publish(p, 'epoch', new_epoch, new_mode)
return {1, new_epoch}
