/**
 * The Lua scripts the Redis brokers run. Each takes the key prefix as ARGV[1] where it builds
 * keys of its own, so the scripts need a single Redis (not Redis Cluster). Node liveness is
 * the score of `<prefix>nodes` (expiry time in ms by Redis TIME), read by every script.
 */

/** A script and its SHA1, as EVALSHA names it. */
export interface Script {
  name: string;
  body: string;
  sha: string;
}

function script(name: string, body: string): Script {
  const sha = new Bun.CryptoHasher("sha1").update(body).digest("hex");
  return { name, body, sha };
}

/** Shared Lua helpers: Redis time in ms, live nodes, and "is the user in the room elsewhere". */
const HELPERS = `
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live_nodes(now)
  return redis.call('ZRANGEBYSCORE', P .. 'nodes', '(' .. string.format('%d', now), '+inf')
end
local function elsewhere(key, live, user, except)
  for _, n in ipairs(live) do
    if n ~= except and redis.call('SISMEMBER', key, n .. '|' .. user) == 1 then return true end
  end
  return false
end
local function presence_event(channel, node, kind, room, user)
  redis.call('PUBLISH', channel, '{"k":"p","n":' .. cjson.encode(node) .. ',"e":{"type":"' ..
    kind .. '","room":' .. cjson.encode(room) .. ',"user":' .. cjson.encode(user) .. '}}')
end
-- Removes the records of node 'gone'; a leave, sent on 'channel' as node 'by', for each of its users
-- that no live node still has in a room.
local function forget(channel, by, gone, live)
  local prefix = gone .. '|'
  for _, room in ipairs(redis.call('SMEMBERS', P .. 'nrooms:' .. gone)) do
    local key = P .. 'pr:' .. room
    for _, member in ipairs(redis.call('SMEMBERS', key)) do
      if string.sub(member, 1, #prefix) == prefix then
        redis.call('SREM', key, member)
        local user = string.sub(member, #prefix + 1)
        if not elsewhere(key, live, user, gone) then
          presence_event(channel, by, 'leave', room, user)
        end
      end
    end
  end
  redis.call('DEL', P .. 'nrooms:' .. gone, P .. 'nu:' .. gone, P .. 'nr:' .. gone, P .. 'node:' .. gone)
  redis.call('ZREM', P .. 'nodes', gone)
end
`;

/**
 * Assigns the next offset, appends to the capped hot history and publishes on the cluster
 * channel. KEYS: sequence hash, history stream. ARGV: prefix, channel, node, room, has-from
 * ("1"/"0"), from, data (JSON text), max length. Returns {0} when the sequence is missing
 * (the caller seeds it), else {1, offset, epoch, ts}.
 */
export const publishScript = script(
  "publish",
  `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {0} end
local offset = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local t = redis.call('TIME')
local ts = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
local id = string.format('%d', offset) .. '-0'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[8], id, 'h', ARGV[5], 'f', ARGV[6], 'd', ARGV[7], 't', ts)
local from = ''
if ARGV[5] == '1' then from = ',"from":' .. cjson.encode(ARGV[6]) end
local msg = '{"room":' .. cjson.encode(ARGV[4]) .. ',"offset":' .. string.format('%d', offset) ..
  ',"epoch":' .. cjson.encode(epoch) .. from .. ',"data":' .. ARGV[7] .. ',"ts":' .. ts .. '}'
redis.call('PUBLISH', ARGV[2], '{"k":"m","n":' .. cjson.encode(ARGV[3]) .. ',"m":' .. msg .. '}')
return {1, offset, epoch, ts}
`,
);

/**
 * Creates a room's sequence when it is missing, and drops any history stream left from an
 * older sequence. KEYS: sequence hash, history stream. ARGV: offset, epoch. Returns 1 when
 * it seeded, 0 when the sequence already existed.
 */
export const seedScript = script(
  "seed",
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'epoch', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
`,
);

/**
 * Reads hot history after an offset. KEYS: sequence hash, history stream. ARGV: after, limit.
 * Returns {0} without a sequence, else {1, epoch, latest offset, XRANGE entries}.
 */
export const recentScript = script(
  "recent",
  `
local pos = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
if not pos[2] then return {0} end
local first = string.format('%d', tonumber(ARGV[1]) + 1) .. '-0'
local entries = redis.call('XRANGE', KEYS[2], first, '+', 'COUNT', ARGV[2])
return {1, pos[2], tonumber(pos[1]), entries}
`,
);

/**
 * Writes this node's record and counts, keeps it alive, and removes nodes whose time ran out,
 * announcing leaves for their users that no live node still has in a room.
 * ARGV: prefix, channel, node, ttl seconds, region, connections, startedAt, mode ("full":
 * replace the counts, "diff": apply changes), user count, room count, presence room count
 * (-1: presence unchanged), then user/count pairs (count 0 deletes), room/count pairs, and
 * per presence room: room, n, then n users. A presence list replaces this node's presence:
 * users no longer listed leave and new ones join, announced when no other live node has them.
 * Returns how many dead nodes were removed, and 1 when this node was still listed before this
 * call (0: Redis lost its data or the node expired, so its presence must be written in full).
 */
export const heartbeatScript = script(
  "heartbeat",
  `${HELPERS}
local channel, node, ttl, mode = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[8]
local now = now_ms()
local listed = redis.call('ZSCORE', P .. 'nodes', node) and 1 or 0


redis.call('ZADD', P .. 'nodes', string.format('%d', now + ttl * 1000), node)
local nodeKey, nu, nr = P .. 'node:' .. node, P .. 'nu:' .. node, P .. 'nr:' .. node
redis.call('HSET', nodeKey, 'node', node, 'region', ARGV[5], 'connections', ARGV[6], 'startedAt', ARGV[7])
if mode ~= 'diff' then redis.call('DEL', nu, nr) end

local users, rooms, prooms = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local i = 12
local function apply(key, n)
  for _ = 1, n do
    if ARGV[i + 1] == '0' then redis.call('HDEL', key, ARGV[i])
    else redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
    i = i + 2
  end
end
apply(nu, users)
apply(nr, rooms)
redis.call('EXPIRE', nodeKey, ttl)
redis.call('EXPIRE', nu, ttl)
redis.call('EXPIRE', nr, ttl)

local dead = redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', string.format('%d', now))
local live = live_nodes(now)
for _, d in ipairs(dead) do forget(channel, node, d, live) end

if prooms >= 0 then
  local want, order = {}, {}
  for _ = 1, prooms do
    local room, n = ARGV[i], tonumber(ARGV[i + 1])
    i = i + 2
    local set = {}
    for _ = 1, n do
      set[ARGV[i]] = true
      i = i + 1
    end
    want[room] = set
    order[#order + 1] = room
  end
  local own, prefix = P .. 'nrooms:' .. node, node .. '|'
  for _, room in ipairs(redis.call('SMEMBERS', own)) do
    local key, set = P .. 'pr:' .. room, want[room] or {}
    for _, member in ipairs(redis.call('SMEMBERS', key)) do
      local user = string.sub(member, #prefix + 1)
      if string.sub(member, 1, #prefix) == prefix and not set[user] then
        redis.call('SREM', key, member)
        if not elsewhere(key, live, user, node) then presence_event(channel, node, 'leave', room, user) end
      end
    end
  end
  redis.call('DEL', own)
  for _, room in ipairs(order) do
    local key = P .. 'pr:' .. room
    redis.call('SADD', own, room)
    for user in pairs(want[room]) do
      if redis.call('SADD', key, prefix .. user) == 1 and not elsewhere(key, live, user, node) then
        presence_event(channel, node, 'join', room, user)
      end
    end
  end
end

redis.call('PUBLISH', channel, '{"k":"h","n":' .. cjson.encode(node) .. '}')
return {#dead, listed}
`,
);

/**
 * Records a user's presence in a room on this node; publishes a join when no other live node
 * has the user there. ARGV: prefix, channel, node, room, user. Returns 1 when it announced.
 */
export const joinScript = script(
  "join",
  `${HELPERS}
local channel, node, room, user = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = P .. 'pr:' .. room
if redis.call('SADD', key, node .. '|' .. user) == 0 then return 0 end
redis.call('SADD', P .. 'nrooms:' .. node, room)
if elsewhere(key, live_nodes(now_ms()), user, node) then return 0 end
presence_event(channel, node, 'join', room, user)
return 1
`,
);

/** The reverse of `joinScript`: publishes a leave when no other live node has the user there. */
export const leaveScript = script(
  "leave",
  `${HELPERS}
local channel, node, room, user = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = P .. 'pr:' .. room
if redis.call('SREM', key, node .. '|' .. user) == 0 then return 0 end
if elsewhere(key, live_nodes(now_ms()), user, node) then return 0 end
presence_event(channel, node, 'leave', room, user)
return 1
`,
);

/** Users in a room on live nodes. ARGV: prefix, room. Returns a list, possibly repeating. */
export const presenceScript = script(
  "presence",
  `${HELPERS}
local live = {}
for _, n in ipairs(live_nodes(now_ms())) do live[n] = true end
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', P .. 'pr:' .. ARGV[2])) do
  local sep = string.find(member, '|', 1, true)
  if sep and live[string.sub(member, 1, sep - 1)] then
    out[#out + 1] = string.sub(member, sep + 1)
  end
end
return out
`,
);

/**
 * A hash of every other live node, flattened field/value lists. ARGV: prefix, this node,
 * key kind ("nu" users, "nr" rooms, "node" records). Returns one list per node.
 */
export const othersScript = script(
  "others",
  `${HELPERS}
local out = {}
for _, n in ipairs(live_nodes(now_ms())) do
  if n ~= ARGV[2] then out[#out + 1] = redis.call('HGETALL', P .. ARGV[3] .. ':' .. n) end
end
return out
`,
);

/** One user's connections on the other live nodes. ARGV: prefix, this node, user. */
export const userScript = script(
  "user",
  `${HELPERS}
local total = 0
for _, n in ipairs(live_nodes(now_ms())) do
  if n ~= ARGV[2] then total = total + (tonumber(redis.call('HGET', P .. 'nu:' .. n, ARGV[3])) or 0) end
end
return total
`,
);

/**
 * A node leaving the cluster on a clean stop: removes its records at once and publishes the
 * leaves of its users that no other live node has in a room, instead of waiting for its
 * entry to expire. ARGV: prefix, channel, node.
 */
export const goodbyeScript = script(
  "goodbye",
  `${HELPERS}
local channel, node = ARGV[2], ARGV[3]
redis.call('ZREM', P .. 'nodes', node)
forget(channel, node, node, live_nodes(now_ms()))
return 1
`,
);
