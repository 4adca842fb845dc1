"""The two Lua scripts of the shared state: one round trip to read a group's state, one to commit it.

Every key of one deployment carries the hash tag `{state}`, so a script's keys live in one slot and
the scripts run unchanged on Redis Cluster. Keys the fetch script derives from a due index (the
values of ended episodes) are in that slot too.

Values are hashes `{v: version, e: expires, d: JSON}`. A version is the commit sequence number
that wrote the value, unique for all time, so a value deleted and written again never shows an old
version (no ABA). A key that does not exist reads as version "0".
"""

from __future__ import annotations

# KEYS: value keys (nv), max keys (nm), eventID keys (ni), due indexes (nd)
# ARGV: nv, nm, ni, nd, newest, lateness, limit, watermark's index among the max keys (0: none),
#       then per due index the prefix of its value keys
# Returns {values, maxes, ids, due}: values[i] = {v, e, d} (false when absent), maxes[i] = value or
# false, ids[i] = 1 when the eventID was applied, due[i] = {member, v, e, d, ...} for the values of
# that index expiring before max(watermark, newest) - lateness (at most `limit`).
FETCH = """
local nv, nm, ni, nd = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local newest, lateness, limit = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local watermark_index = tonumber(ARGV[8])
local values, maxes, ids, due = {}, {}, {}, {}
local k = 0
for i = 1, nv do
  k = k + 1
  values[i] = redis.call('HMGET', KEYS[k], 'v', 'e', 'd')
end
local watermark = 0
for i = 1, nm do
  k = k + 1
  local value = redis.call('GET', KEYS[k])
  maxes[i] = value
  if i == watermark_index and value then watermark = tonumber(value) end
end
for i = 1, ni do
  k = k + 1
  ids[i] = redis.call('EXISTS', KEYS[k])
end
local horizon = string.format('(%.17g', math.max(watermark, newest) - lateness)
for i = 1, nd do
  k = k + 1
  local prefix = ARGV[8 + i]
  local rows = {}
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', horizon, 'LIMIT', 0, limit)) do
    local row = redis.call('HMGET', prefix .. member, 'v', 'e', 'd')
    if row[1] then
      rows[#rows + 1] = member
      rows[#rows + 1] = row[1]
      rows[#rows + 1] = row[2]
      rows[#rows + 1] = row[3]
    else
      redis.call('ZREM', KEYS[k], member)  -- its value expired by TTL: nothing left to close
    end
  end
  due[i] = rows
end
return {values, maxes, ids, due}
"""

# KEYS: the sequence counter, checked keys (nc), eventID keys (ni), per write its value key and due
#       index (the value key again when it has none) (2 * nw), max keys (nm), the alert stream
# ARGV: nc, ni, nw, nm, eventID TTL ms, stream max length, alerts payload ('' for none),
#       expected versions (nc), per write: op ('s' set, 'd' delete), expires, TTL ms ('0': none), data,
#       member of the due index (5 * nw), max values (nm)
# Returns {1, sequence} when committed, {0, conflicting keys} when another replica got there first.
COMMIT = """
local nc, ni, nw, nm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local id_ttl, maxlen, payload = ARGV[5], ARGV[6], ARGV[7]
local k, a = 1, 7
local conflicts = {}
for i = 1, nc do
  k = k + 1
  a = a + 1
  local current = redis.call('HGET', KEYS[k], 'v') or '0'
  if current ~= ARGV[a] then conflicts[#conflicts + 1] = KEYS[k] end
end
local first_id = k
for i = 1, ni do
  k = k + 1
  if redis.call('EXISTS', KEYS[k]) == 1 then conflicts[#conflicts + 1] = KEYS[k] end
end
if #conflicts > 0 then return {0, conflicts} end
local seq = redis.call('INCR', KEYS[1])
for i = 1, nw do
  local key, index = KEYS[k + 1], KEYS[k + 2]
  k = k + 2
  local op, expires, ttl, data, member = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  a = a + 5
  if op == 's' then
    redis.call('HSET', key, 'v', seq, 'e', expires, 'd', data)
    if ttl == '0' then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, ttl) end
    if index ~= key then redis.call('ZADD', index, expires, member) end
  else
    redis.call('DEL', key)
    if index ~= key then redis.call('ZREM', index, member) end
  end
end
for i = 1, nm do
  k = k + 1
  a = a + 1
  local current = tonumber(redis.call('GET', KEYS[k]))
  if not current or tonumber(ARGV[a]) > current then redis.call('SET', KEYS[k], ARGV[a]) end
end
for i = 1, ni do
  redis.call('SET', KEYS[first_id + i], '1', 'PX', id_ttl)
end
if payload ~= '' then
  redis.call('XADD', KEYS[k + 1], 'MAXLEN', '~', maxlen, '*', 'alerts', payload)
end
return {1, seq}
"""
