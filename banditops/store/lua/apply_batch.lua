-- Apply one agent batch atomically, at most once, and only to the epoch it was sampled under.
-- ARGV: prefix, batch_id, epoch, reward_kind, pulls, regret, stats_json, summaries_maxlen,
--       events_maxlen, dedupe_window_s, dedupe_max, arms_needed, issued_ms ('' = unknown),
--       linear_len ('' = no contextual pulls; else the length of one arm's linear text, 1+d*d+d+d*k),
--       shared_delta ('' or the batch's "zz.. zr.." text when k > 0),
--       then per pulled arm: arm, n, sum, sumsq, last_offset (1-based position of its last pull)
--       [, linear_delta: "n xx.. xr.. xz.." of its contextual pulls, '' for none, when linear_len ~= '']
-- Returns {status, current_epoch, mode_after, total_pulls}; status 'invalid' (with the stored kind
-- and arm count) when the caller validated against a stale config: nothing is written then.
local p, batch_id, batch_epoch, kind = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local pulls, regret, stats_json = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local summaries_maxlen, events_maxlen = ARGV[8], ARGV[9]
local window_s, dedupe_max, arms_needed = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local issued_ms = tonumber(ARGV[13])
local linear_len, shared_delta = tonumber(ARGV[14]), ARGV[15]
local step = linear_len and 6 or 5

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
-- Not in the set: refuse a batch the set may have forgotten (issued before the age window, or at or
-- before the newest id evicted for size, kept in seen_floor). Its first apply, if any, was at or after
-- its issue time, so an id issued later than both bounds cannot have been evicted.
local now = now_s()
local floor_key = p .. ':seen_floor:' .. batch_epoch
if issued_ms then
  local issued_s, floor = issued_ms / 1000, tonumber(redis.call('GET', floor_key) or '-1')
  if issued_s < now - window_s or issued_s <= floor then
    return {'too_old', string.format('%d', math.max(now - window_s, floor) * 1000)}
  end
end
if batch_epoch ~= epoch then
  redis.call('HINCRBY', counters, 'batches_stale', 1)
  return {'stale_epoch', epoch, mode, tonumber(redis.call('HGET', counters, 'total_pulls'))}
end

redis.call('ZADD', seen, fmt(now), batch_id)
redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. fmt(now - window_s))
local size = redis.call('ZCARD', seen)
if size > dedupe_max then
  local newest_evicted = redis.call('ZRANGE', seen, size - dedupe_max - 1, size - dedupe_max - 1, 'WITHSCORES')
  redis.call('SET', floor_key, newest_evicted[2])
  redis.call('ZREMRANGEBYRANK', seen, 0, size - dedupe_max - 1)
end

local ep = p .. ':epoch:' .. epoch
local post = p .. ':posterior:' .. epoch
local lp = p .. ':last_pulled:' .. epoch
local e = redis.call('HMGET', ep, 'pulls', 'regret')
local pulls_before = tonumber(e[1] or '0')

-- One read and one write of the posterior whatever K: the script is atomic, so read-add-write is
-- as safe as HINCRBY, and far fewer calls (counts stay exact integers below 2^53).
local fields = {}
for i = 16, #ARGV, step do
  local arm = ARGV[i]
  fields[#fields + 1] = 'n:' .. arm
  fields[#fields + 1] = 'sum:' .. arm
  fields[#fields + 1] = 'sumsq:' .. arm
end
if #fields > 0 then
  local cur = redis.call('HMGET', post, unpack(fields))
  local writes, last = {}, {}
  local j = 0
  for i = 16, #ARGV, step do
    local arm = ARGV[i]
    writes[#writes + 1] = 'n:' .. arm
    writes[#writes + 1] = int(tonumber(cur[j + 1] or '0') + tonumber(ARGV[i + 1]))
    writes[#writes + 1] = 'sum:' .. arm
    writes[#writes + 1] = fmt(tonumber(cur[j + 2] or '0') + tonumber(ARGV[i + 2]))
    writes[#writes + 1] = 'sumsq:' .. arm
    writes[#writes + 1] = fmt(tonumber(cur[j + 3] or '0') + tonumber(ARGV[i + 3]))
    last[#last + 1] = arm
    last[#last + 1] = int(pulls_before + tonumber(ARGV[i + 4]))
    j = j + 3
  end
  redis.call('HSET', post, unpack(writes))
  redis.call('HSET', lp, unpack(last))
end

-- LinTS statistics: element-wise sums of space-separated doubles (exact text, as above).
if linear_len then
  local lin = p .. ':linear:' .. epoch
  local function add_text(field, delta)
    local cur = redis.call('HGET', lin, field)
    local out, k = {}, 0
    for x in string.gmatch(delta, '%S+') do k = k + 1; out[k] = tonumber(x) end
    if cur then
      local j = 0
      for x in string.gmatch(cur, '%S+') do j = j + 1; out[j] = (out[j] or 0) + tonumber(x) end
    end
    for m = 1, k do out[m] = fmt(out[m]) end
    redis.call('HSET', lin, field, table.concat(out, ' '))
  end
  for i = 16, #ARGV, 6 do
    if ARGV[i + 5] ~= '' then add_text('a:' .. ARGV[i], ARGV[i + 5]) end
  end
  if shared_delta ~= '' then add_text('shared', shared_delta) end
end

redis.call('HSET', ep, 'pulls', int(pulls_before + pulls), 'regret', fmt(tonumber(e[2] or '0') + regret))
local c = redis.call('HMGET', counters, 'total_pulls', 'regret', 'batches_applied')
local total = tonumber(c[1] or '0') + pulls
redis.call('HSET', counters, 'total_pulls', int(total), 'regret', fmt(tonumber(c[2] or '0') + regret),
  'batches_applied', int(tonumber(c[3] or '0') + 1))

redis.call('XADD', p .. ':summaries', 'MAXLEN', '~', summaries_maxlen, '*',
  'epoch', int(epoch), 'mode', mode, 'batch_id', batch_id, 'pulls_before', int(pulls_before), 'stats', stats_json,
  'regret', fmt(regret))

local mode_after = mode
if mode == 'RELEARNING' then
  local left = redis.call('HINCRBY', st, 'explore_remaining', int(-pulls))
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
