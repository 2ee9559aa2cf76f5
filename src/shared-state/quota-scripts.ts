/**
 * The Lua scripts that keep per-key limits in Redis. Each runs atomically, so checking
 * every limit and reserving happen in one step across all instances: a burst of 50 against
 * a limit of 10, spread over any number of instances, admits exactly 10.
 *
 * Per key (all under one hash tag, `{keyId}`, so they live in one cluster slot):
 * - `rpm`: sorted set, request id → admission time;
 * - `tpm` + `tpm:n`: sorted set id → time, and hash id → tokens plus `#total`;
 * - `streams`: sorted set id → lease expiry;
 * - `reserved` + `reserved:usd`: sorted set id → lease expiry, and hash id → USD plus `#total`;
 * - `spent:<day>`, `spent:<month>`: USD spent, seeded from the ledger once per period.
 *
 * Time is Redis's own clock (TIME), so instances with skewed clocks agree on windows and
 * leases; tests may pass a time instead. USD amounts are added as doubles in Lua and stored
 * with 17 digits, so they round exactly as the in-memory counts do.
 */
import type { Redis, Result } from 'ioredis';
import type { SharedRedis } from './redis.js';

const PRELUDE = `
local MINUTE = 60000
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function limit(arg)
  if arg == '' then return nil end
  return tonumber(arg)
end
local function fmt(x) return string.format('%.17g', x) end
local function total(h) return tonumber(redis.call('HGET', h, '#total') or '0') end
-- Nothing left but the total: nothing is counted, whatever rounding the sums left behind.
local function setTotal(h, value)
  if redis.call('HLEN', h) <= 1 then redis.call('DEL', h) else redis.call('HSET', h, '#total', fmt(value)) end
end
-- Members of sorted set z scored at or below upto leave it, and their amounts leave hash h.
local function prune(z, h, upto)
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', upto)
  if #gone == 0 then return total(h) end
  local left = total(h)
  for i = 1, #gone, 500 do
    local batch = { unpack(gone, i, math.min(i + 499, #gone)) }
    for _, value in ipairs(redis.call('HMGET', h, unpack(batch))) do left = left - (tonumber(value) or 0) end
    redis.call('HDEL', h, unpack(batch))
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', upto)
  setTotal(h, left)
  return total(h)
end
`;

/**
 * KEYS: rpm, tpm, tpm:n, streams, reserved, reserved:usd, spent:<day>, spent:<month>.
 * ARGV: id, now, rpm, tpm, tokens, stream (1/0), maxStreams, costUsd, daily, monthly, leaseMs
 * ('' = no limit / no price / Redis's clock).
 * Returns {'seed'} (spend not seeded for this period), a refusal ({'rpm', retryAfterMs},
 * {'streams'}, {'tpm-size'}, {'tpm', retryAfterMs}, {'daily'|'monthly', spentUsd}), or
 * {'ok', ms the rpm window stays full from now on, or -1}.
 */
const ADMIT = `${PRELUDE}
local id, now = ARGV[1], clock(ARGV[2])
local daySpent, monthSpent = redis.call('GET', KEYS[7]), redis.call('GET', KEYS[8])
if not daySpent or not monthSpent then return { 'seed' } end
local rpm, tpm, maxStreams = limit(ARGV[3]), limit(ARGV[4]), limit(ARGV[7])
local tokens, stream, cost = tonumber(ARGV[5]), ARGV[6] == '1', limit(ARGV[8])
local daily, monthly, lease = limit(ARGV[9]), limit(ARGV[10]), tonumber(ARGV[11])

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - MINUTE)
local requests = redis.call('ZCARD', KEYS[1])
if rpm and requests >= rpm then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
  return { 'rpm', (tonumber(oldest) or now) + MINUTE - now }
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
if stream and maxStreams and redis.call('ZCARD', KEYS[4]) >= maxStreams then return { 'streams' } end
local used = prune(KEYS[2], KEYS[3], now - MINUTE)
if tpm then
  if tokens > tpm then return { 'tpm-size' } end
  if used + tokens > tpm then
    -- When enough of the window will have expired for this request to fit.
    local retryAt = now
    local entries = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
    for i = 1, #entries, 2 do
      used = used - (tonumber(redis.call('HGET', KEYS[3], entries[i])) or 0)
      retryAt = tonumber(entries[i + 1]) + MINUTE
      if used + tokens <= tpm then break end
    end
    return { 'tpm', math.max(1, retryAt - now) }
  end
end
local reserved = prune(KEYS[5], KEYS[6], now)
if cost then
  local committed = reserved + cost
  daySpent, monthSpent = tonumber(daySpent), tonumber(monthSpent)
  if daily and daySpent + committed > daily then return { 'daily', fmt(daySpent) } end
  if monthly and monthSpent + committed > monthly then return { 'monthly', fmt(monthSpent) } end
end

redis.call('ZADD', KEYS[1], now, id)
redis.call('ZADD', KEYS[2], now, id)
redis.call('HSET', KEYS[3], id, tokens, '#total', fmt(used + tokens))
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], MINUTE) end
if stream then
  redis.call('ZADD', KEYS[4], now + lease, id)
  redis.call('PEXPIRE', KEYS[4], lease)
end
if cost then
  redis.call('ZADD', KEYS[5], now + lease, id)
  redis.call('HSET', KEYS[6], id, fmt(cost), '#total', fmt(reserved + cost))
  redis.call('PEXPIRE', KEYS[5], lease)
  redis.call('PEXPIRE', KEYS[6], lease)
end
local full = -1
if rpm and requests + 1 >= rpm then
  -- The window is full until this many of its oldest requests have left it.
  local at = requests + 1 - rpm
  full = tonumber(redis.call('ZRANGE', KEYS[1], at, at, 'WITHSCORES')[2]) + MINUTE - now
end
return { 'ok', full }
`;

/**
 * KEYS: tpm, tpm:n, streams, reserved, reserved:usd, spent:<day>, spent:<month> (the
 * admission's period, as the ledger counts it by start time). ARGV: id, tokens, costUsd ('' = none).
 * Replaces the reservation with what was used. Spend is added only to periods already
 * seeded: one that is not will be seeded from the ledger, which has the row.
 */
const SETTLE = `${PRELUDE}
local id = ARGV[1]
if redis.call('ZSCORE', KEYS[1], id) then
  local before = tonumber(redis.call('HGET', KEYS[2], id) or '0')
  redis.call('HSET', KEYS[2], id, ARGV[2], '#total', fmt(total(KEYS[2]) - before + tonumber(ARGV[2])))
end
redis.call('ZREM', KEYS[3], id)
local reserved = redis.call('HGET', KEYS[5], id)
if reserved then
  redis.call('ZREM', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  setTotal(KEYS[5], total(KEYS[5]) - tonumber(reserved))
end
local cost = limit(ARGV[3])
if cost then
  for i = 6, 7 do
    local spent = redis.call('GET', KEYS[i])
    if spent then redis.call('SET', KEYS[i], fmt(tonumber(spent) + cost), 'KEEPTTL') end
  end
end
return 1
`;

/**
 * KEYS: rpm, tpm, tpm:n, streams, spent:<day>, spent:<month>. ARGV: now.
 * Returns {'seed'} or {'ok', requests, tokens, streams, spentDay, spentMonth}.
 */
const USAGE = `${PRELUDE}
local now = clock(ARGV[1])
local daySpent, monthSpent = redis.call('GET', KEYS[5]), redis.call('GET', KEYS[6])
if not daySpent or not monthSpent then return { 'seed' } end
local requests = redis.call('ZCOUNT', KEYS[1], '(' .. fmt(now - MINUTE), '+inf')
local tokens = prune(KEYS[2], KEYS[3], now - MINUTE)
local streams = redis.call('ZCOUNT', KEYS[4], '(' .. fmt(now), '+inf')
return { 'ok', requests, fmt(tokens), streams, daySpent, monthSpent }
`;

export interface Period {
  day: string;
  month: string;
}

/** A key's Redis keys, and which of them each script takes. */
export interface QuotaKeys {
  streams: string;
  reserved: string;
  reservedUsd: string;
  spentDay: string;
  spentMonth: string;
  admit: string[];
  settle: string[];
  usage: string[];
}

export function quotaKeys(redis: SharedRedis, keyId: string, { day, month }: Period): QuotaKeys {
  // One hash tag per gateway key: all of its state lives in one Redis Cluster slot.
  const k = (name: string): string => redis.key(`{${keyId}}`, name);
  const [rpm, tpm, tpmTokens, streams, reserved, reservedUsd, spentDay, spentMonth] = [
    'rpm',
    'tpm',
    'tpm:n',
    'streams',
    'reserved',
    'reserved:usd',
    `spent:${day}`,
    `spent:${month}`,
  ].map(k) as [string, string, string, string, string, string, string, string];
  return {
    streams,
    reserved,
    reservedUsd,
    spentDay,
    spentMonth,
    admit: [rpm, tpm, tpmTokens, streams, reserved, reservedUsd, spentDay, spentMonth],
    settle: [tpm, tpmTokens, streams, reserved, reservedUsd, spentDay, spentMonth],
    usage: [rpm, tpm, tpmTokens, streams, spentDay, spentMonth],
  };
}

type Arg = string | number;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    gatewayQuotaAdmit(...args: Arg[]): Result<[string, (number | string)?], Context>;
    gatewayQuotaSettle(...args: Arg[]): Result<number, Context>;
    gatewayQuotaUsage(...args: Arg[]): Result<[string, number?, string?, number?, string?, string?], Context>;
  }
}

/** Registers the scripts on a client (ioredis sends each by its SHA, and its text when Redis lacks it). */
export function defineQuotaScripts(client: Redis): void {
  client.defineCommand('gatewayQuotaAdmit', { numberOfKeys: 8, lua: ADMIT });
  client.defineCommand('gatewayQuotaSettle', { numberOfKeys: 7, lua: SETTLE });
  client.defineCommand('gatewayQuotaUsage', { numberOfKeys: 6, lua: USAGE });
}
