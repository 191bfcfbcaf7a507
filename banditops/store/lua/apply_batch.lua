-- Apply one agent batch atomically, at most once, and only to the epoch it was sampled under.
-- ARGV: prefix, batch_id, epoch, reward_kind, pulls, regret, stats_json, summaries_maxlen,
--       events_maxlen, dedupe_window_s, dedupe_max, arms_needed, issued_ms ('' = unknown),
--       linear_len ('' = no contextual pulls; else the length of one arm's linear text, 1+d*d+d+d*k),
--       shared_delta ('' or the batch's "zz.. zr.." text when k > 0), m,
--       then m times per pulled arm: arm, n, sum, sumsq, last_offset (1-based position of its last pull)
--       [, linear_delta: "n xx.. xr.. xz.." of its contextual pulls, '' for none, when linear_len ~= ''],
--       then, optionally, the policy section of an agent's round (see below).
-- Returns {status, current_epoch, mode_after, total_pulls}; status 'invalid' (with the stored kind
-- and arm count) when the caller validated against a stale config: nothing is written then.
--
-- The policy section (an agent round that ran the drift-aware policy on its rewards, pull by pull):
--   forced, floor_forced, control_json ('' = keep), alarms_json,
--   a, then a times: arm, hex            -- append these stream records (arm not reset)
--   r, then r times: arm, expected_len, hex, n, sum, sumsq
--                                        -- the arm was reset: its stream and totals become these,
--                                        -- only if its stream is still expected_len long
--   restart (0/1); if 1: expected_epoch_pulls, new_pulls, c, then c times: arm, hex, n, sum, sumsq, last
--                                        -- the policy restarted: open epoch + 1 holding these arms,
--                                        -- only if the epoch still has expected_epoch_pulls pulls
-- A failed expectation returns {'conflict', epoch, mode, total_pulls} and writes nothing: another
-- agent's round landed in between; the caller re-reads, re-runs the policy on the same rewards and
-- retries. So two agents that see the same change react once (the second sees the reaction).
local p, batch_id, batch_epoch, kind = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local pulls, regret, stats_json = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local summaries_maxlen, events_maxlen = ARGV[8], ARGV[9]
local window_s, dedupe_max, arms_needed = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local issued_ms = tonumber(ARGV[13])
local linear_len, shared_delta = tonumber(ARGV[14]), ARGV[15]
local step = linear_len and 6 or 5
local m = tonumber(ARGV[16])
local arms_end = 16 + step * m

-- The policy section, parsed up front (its expectations are checked before anything is written).
local policy = nil
if #ARGV > arms_end then
  local i = arms_end + 1
  policy = {forced = tonumber(ARGV[i]), floor_forced = tonumber(ARGV[i + 1]), control = ARGV[i + 2],
            alarms = ARGV[i + 3], appends = {}, resets = {}, restart = nil}
  i = i + 4
  local a = tonumber(ARGV[i]); i = i + 1
  for _ = 1, a do policy.appends[#policy.appends + 1] = {ARGV[i], ARGV[i + 1]}; i = i + 2 end
  local r = tonumber(ARGV[i]); i = i + 1
  for _ = 1, r do
    policy.resets[#policy.resets + 1] = {ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
                                         ARGV[i + 5]}
    i = i + 6
  end
  if ARGV[i] == '1' then
    local rs = {expected = tonumber(ARGV[i + 1]), new_pulls = tonumber(ARGV[i + 2]), arms = {}}
    local c = tonumber(ARGV[i + 3]); i = i + 4
    for _ = 1, c do rs.arms[#rs.arms + 1] = {ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
                                              ARGV[i + 5]}; i = i + 6 end
    policy.restart = rs
  end
end

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
if policy then
  local conflict = false
  for _, r in ipairs(policy.resets) do
    if redis.call('STRLEN', p .. ':stream:' .. epoch .. ':' .. r[1]) ~= r[2] then conflict = true end
  end
  if policy.restart and tonumber(redis.call('HGET', p .. ':epoch:' .. epoch, 'pulls') or '0') ~= policy.restart.expected then
    conflict = true
  end
  if conflict then
    return {'conflict', epoch, mode, tonumber(redis.call('HGET', counters, 'total_pulls'))}
  end
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
for i = 17, arms_end, step do
  local arm = ARGV[i]
  fields[#fields + 1] = 'n:' .. arm
  fields[#fields + 1] = 'sum:' .. arm
  fields[#fields + 1] = 'sumsq:' .. arm
end
if #fields > 0 then
  local cur = redis.call('HMGET', post, unpack(fields))
  local writes, last = {}, {}
  local j = 0
  for i = 17, arms_end, step do
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
  for i = 17, arms_end, 6 do
    if ARGV[i + 5] ~= '' then add_text('a:' .. ARGV[i], ARGV[i + 5]) end
  end
  if shared_delta ~= '' then add_text('shared', shared_delta) end
end

local new_pulls = 0
if policy and policy.restart then new_pulls = policy.restart.new_pulls end
redis.call('HSET', ep, 'pulls', int(pulls_before + pulls - new_pulls), 'regret', fmt(tonumber(e[2] or '0') + regret))
local c = redis.call('HMGET', counters, 'total_pulls', 'regret', 'batches_applied')
local total = tonumber(c[1] or '0') + pulls
redis.call('HSET', counters, 'total_pulls', int(total), 'regret', fmt(tonumber(c[2] or '0') + regret),
  'batches_applied', int(tonumber(c[3] or '0') + 1))

redis.call('XADD', p .. ':summaries', 'MAXLEN', '~', summaries_maxlen, '*',
  'epoch', int(epoch), 'mode', mode, 'batch_id', batch_id, 'pulls_before', int(pulls_before), 'stats', stats_json,
  'regret', fmt(regret))

local mode_after = mode
if policy then
  -- The policy's own bookkeeping: forced pulls (their share is reported), the confirmation state,
  -- each arm's reward stream (what the next round's change-point tests read), and the reaction.
  redis.call('HINCRBY', ep, 'forced', int(policy.forced))
  redis.call('HINCRBY', counters, 'forced', int(policy.forced))
  redis.call('HINCRBY', counters, 'floor_forced', int(policy.floor_forced))
  local alarms = cjson.decode(policy.alarms)
  for _, alarm in ipairs(alarms) do
    alarm.epoch = epoch
    alarm.batch_id = batch_id
    alarm.pulls_before = pulls_before
    alarm.total_pulls = total
    alarm.reaction = alarm.restart and 'restart' or 'reset'
    add_event(p, events_maxlen, 'drift_detected', cjson.encode(alarm))
  end
  if policy.restart then
    -- Restart: epoch + 1 holds only what the policy kept (the alarming arm's post-change rewards and
    -- this round's rewards after the alarm); LEARNING, no forced budget. Rounds sampled under the old
    -- epoch are refused from now on, exactly as after a relearning.
    local new_epoch = epoch + 1
    local np = p .. ':posterior:' .. new_epoch
    local nlp = p .. ':last_pulled:' .. new_epoch
    for _, a in ipairs(policy.restart.arms) do
      redis.call('HSET', np, 'n:' .. a[1], a[3], 'sum:' .. a[1], a[4], 'sumsq:' .. a[1], a[5])
      redis.call('SET', p .. ':stream:' .. new_epoch .. ':' .. a[1], a[2])
      if tonumber(a[6]) > 0 then redis.call('HSET', nlp, a[1], a[6]) end
    end
    for arm = 0, n_arms - 1 do redis.call('UNLINK', p .. ':stream:' .. epoch .. ':' .. arm) end
    if policy.control ~= '' then redis.call('SET', p .. ':policy:' .. new_epoch, policy.control) end
    redis.call('UNLINK', p .. ':policy:' .. epoch)
    redis.call('HSET', st, 'epoch', int(new_epoch), 'mode', 'LEARNING', 'explore_remaining', 0)
    redis.call('HSET', p .. ':epoch:' .. new_epoch, 'pulls', int(policy.restart.new_pulls), 'regret', 0,
      'opened_ts', fmt(now), 'reason', 'drift_restart', 'forced', 0)
    redis.call('PEXPIRE', seen, math.floor(window_s * 1000))
    redis.call('PEXPIRE', floor_key, math.floor(window_s * 1000))
    local alarm = alarms[#alarms] or {}
    -- carried_pulls: the pulls epoch + 1 opens with (no summary of epoch + 1 holds them; its first
    -- summary's pulls_before is this number), so the books of an epoch can be checked from its events.
    add_event(p, events_maxlen, 'epoch_opened', cjson.encode({epoch = new_epoch, previous_epoch = epoch,
      reason = 'drift_restart', explore_budget = 0, mode = 'LEARNING', arm = alarm.arm,
      magnitude = alarm.magnitude, change_point = alarm.change_point,
      carried_pulls = policy.restart.new_pulls}))
    if mode ~= 'LEARNING' then
      add_event(p, events_maxlen, 'mode_changed', cjson.encode(
        {from = mode, to = 'LEARNING', reason = 'drift_restart', epoch = new_epoch}))
    end
    publish(p, 'epoch', new_epoch, 'LEARNING')
    return {'applied', new_epoch, 'LEARNING', total}
  end
  for _, a in ipairs(policy.appends) do
    redis.call('APPEND', p .. ':stream:' .. epoch .. ':' .. a[1], a[2])
  end
  for _, r in ipairs(policy.resets) do
    redis.call('SET', p .. ':stream:' .. epoch .. ':' .. r[1], r[3])
    redis.call('HSET', post, 'n:' .. r[1], r[4], 'sum:' .. r[1], r[5], 'sumsq:' .. r[1], r[6])
  end
  if policy.control ~= '' then redis.call('SET', p .. ':policy:' .. epoch, policy.control) end
end
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
