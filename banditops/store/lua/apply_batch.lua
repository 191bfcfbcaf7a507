-- Apply one agent batch atomically, at most once, and only to the epoch it was sampled under.
-- ARGV: prefix, batch_id, epoch, reward_kind, pulls, regret, stats_json, summaries_maxlen,
--       events_maxlen, dedupe_window_s, dedupe_max, arms_needed,
--       then per pulled arm: arm, n, sum, sumsq, last_offset (1-based position of its last pull)
-- Returns {status, current_epoch, mode_after, total_pulls}; status 'invalid' (with the stored kind
-- and arm count) when the caller validated against a stale config: nothing is written then.
local p, batch_id, batch_epoch, kind = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local pulls, regret, stats_json = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local summaries_maxlen, events_maxlen = ARGV[8], ARGV[9]
local window_s, dedupe_max, arms_needed = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])

local st, counters = p .. ':state', p .. ':counters'
local s = redis.call('HMGET', st, 'epoch', 'mode', 'n_arms', 'kind')
if not s[1] then return {'not_initialized'} end
local epoch, mode, n_arms = tonumber(s[1]), s[2], tonumber(s[3])
if s[4] ~= kind or arms_needed > n_arms then return {'invalid', s[4], n_arms} end

-- Dedupe first, in the set of the epoch the batch claims: a retry of a batch applied just before
-- a relearning is still reported 'duplicate' (not 'stale_epoch') while that set lives.
local seen = p .. ':seen:' .. batch_epoch
if redis.call('ZSCORE', seen, batch_id) then
  redis.call('HINCRBY', counters, 'batches_duplicate', 1)
  return {'duplicate', epoch, mode, tonumber(redis.call('HGET', counters, 'total_pulls'))}
end
if batch_epoch ~= epoch then
  redis.call('HINCRBY', counters, 'batches_stale', 1)
  return {'stale_epoch', epoch, mode, tonumber(redis.call('HGET', counters, 'total_pulls'))}
end

local now = now_s()
redis.call('ZADD', seen, fmt(now), batch_id)
redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. fmt(now - window_s))
local size = redis.call('ZCARD', seen)
if size > dedupe_max then redis.call('ZREMRANGEBYRANK', seen, 0, size - dedupe_max - 1) end

local ep = p .. ':epoch:' .. epoch
local post = p .. ':posterior:' .. epoch
local lp = p .. ':last_pulled:' .. epoch
local pulls_before = tonumber(redis.call('HGET', ep, 'pulls') or '0')
for i = 13, #ARGV, 5 do
  local arm = ARGV[i]
  redis.call('HINCRBY', post, 'n:' .. arm, ARGV[i + 1])
  local cur = redis.call('HMGET', post, 'sum:' .. arm, 'sumsq:' .. arm)
  redis.call('HSET', post,
    'sum:' .. arm, fmt(tonumber(cur[1] or '0') + tonumber(ARGV[i + 2])),
    'sumsq:' .. arm, fmt(tonumber(cur[2] or '0') + tonumber(ARGV[i + 3])))
  redis.call('HSET', lp, arm, pulls_before + tonumber(ARGV[i + 4]))
end

redis.call('HINCRBY', ep, 'pulls', pulls)
redis.call('HSET', ep, 'regret', fmt(tonumber(redis.call('HGET', ep, 'regret') or '0') + regret))
local total = redis.call('HINCRBY', counters, 'total_pulls', pulls)
redis.call('HSET', counters, 'regret', fmt(tonumber(redis.call('HGET', counters, 'regret') or '0') + regret))
redis.call('HINCRBY', counters, 'batches_applied', 1)

redis.call('XADD', p .. ':summaries', 'MAXLEN', '~', summaries_maxlen, '*',
  'epoch', epoch, 'mode', mode, 'batch_id', batch_id, 'pulls_before', pulls_before, 'stats', stats_json)

local mode_after = mode
if mode == 'RELEARNING' then
  local left = redis.call('HINCRBY', st, 'explore_remaining', -pulls)
  if left <= 0 then
    mode_after = 'LEARNING'
    redis.call('HSET', st, 'explore_remaining', 0, 'mode', mode_after)
    add_event(p, events_maxlen, 'mode_changed', cjson.encode(
      {from = mode, to = mode_after, reason = 'relearning_done', epoch = epoch}))
    add_event(p, events_maxlen, 'relearning_done', cjson.encode(
      {epoch = epoch, epoch_pulls = pulls_before + pulls, mode = mode_after}))
  end
end
publish(p, 'batch', epoch, mode_after)
return {'applied', epoch, mode_after, total}
