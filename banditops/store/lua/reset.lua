-- Wipe the namespace and start an experiment: epoch 1, LEARNING, empty posterior.
-- ARGV: prefix, config_json, n_arms, reward_kind, events_maxlen, name
local p, config_json, n_arms, kind, events_maxlen, name = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
wipe(p)
redis.call('SET', p .. ':config', config_json)
redis.call('HSET', p .. ':state', 'mode', 'LEARNING', 'epoch', 1, 'n_arms', n_arms, 'kind', kind,
  'explore_remaining', 0)
redis.call('HSET', p .. ':counters', 'total_pulls', 0, 'regret', 0, 'batches_applied', 0,
  'batches_duplicate', 0, 'batches_stale', 0)
redis.call('HSET', p .. ':epoch:1', 'pulls', 0, 'regret', 0, 'opened_ts', fmt(now_s()),
  'reason', 'experiment_started')
add_event(p, events_maxlen, 'experiment_started',
  cjson.encode({epoch = 1, name = name, n_arms = tonumber(n_arms), reward_kind = kind, mode = 'LEARNING'}))
publish(p, 'reset', 1, 'LEARNING')
return 1
