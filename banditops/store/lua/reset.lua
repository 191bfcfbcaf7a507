-- Start an experiment on a wiped namespace (see below): LEARNING, empty posterior, in a NEW epoch.
-- ARGV: prefix, config_json, n_arms, reward_kind, events_maxlen, name, arm_names_json (a JSON list,
-- one name per arm in index order), arm_metadata_json (a JSON object name -> that arm's metadata as
-- JSON text, stored as given so its numbers keep every digit; '' = none)
-- Returns the experiment's first epoch: the namespace's previous epoch + 1 (1 on an empty namespace).
-- Epochs never restart within a namespace, so an agent batch sampled under any epoch of the
-- previous experiment (still in flight while the store is reset) is refused as 'stale_epoch'.
local p, config_json, n_arms, kind, events_maxlen, name = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local arm_names, arm_meta = cjson.decode(ARGV[7]), ARGV[8]
local previous = tonumber(redis.call('HGET', p .. ':state', 'epoch')) or 0
local epoch = previous + 1
-- The namespace was wiped in chunks before this script (BanditStore.wipe, keeping 'state'): only
-- the keys a writer may have re-created meanwhile are left, the fixed ones and the current epoch's
-- (older epochs' writes are refused as stale). UNLINK frees big values in the background.
for _, suffix in ipairs({'config', 'counters', 'events', 'summaries', 'meta', 'cursors', 'retired', 'decisions',
                         'arms', 'arm_meta', 'feedback', 'feedback:dead', 'epoch:' .. previous,
                         'posterior:' .. previous, 'last_pulled:' .. previous, 'seen:' .. previous,
                         'seen_floor:' .. previous, 'epoch:' .. epoch, 'posterior:' .. epoch,
                         'last_pulled:' .. epoch, 'seen:' .. epoch, 'seen_floor:' .. epoch}) do
  redis.call('UNLINK', p .. ':' .. suffix)
end
redis.call('SET', p .. ':config', config_json)
redis.call('HSET', p .. ':state', 'mode', 'LEARNING', 'epoch', int(epoch), 'first_epoch', int(epoch),
  'n_arms', n_arms, 'kind', kind, 'explore_remaining', 0)
-- The name table: name -> internal index (see add_arm.lua); metadata as each arm's JSON text.
for i, arm_name in ipairs(arm_names) do redis.call('HSET', p .. ':arms', arm_name, int(i - 1)) end
if arm_meta ~= '' then
  for arm_name, value in pairs(cjson.decode(arm_meta)) do
    redis.call('HSET', p .. ':arm_meta', arm_name, value)
  end
end
redis.call('HSET', p .. ':counters', 'total_pulls', 0, 'regret', 0, 'batches_applied', 0,
  'batches_duplicate', 0, 'batches_stale', 0)
redis.call('HSET', p .. ':epoch:' .. epoch, 'pulls', 0, 'regret', 0, 'opened_ts', fmt(now_s()),
  'reason', 'experiment_started')
add_event(p, events_maxlen, 'experiment_started',
  cjson.encode({epoch = epoch, name = name, n_arms = tonumber(n_arms), reward_kind = kind, mode = 'LEARNING'}))
publish(p, 'reset', epoch, 'LEARNING')
return epoch
