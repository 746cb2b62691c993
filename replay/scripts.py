"""Server-side Lua scripts. Each runs atomically in Redis, so a chunk becomes visible
whole or not at all (a chunk is staged and committed inside one MULTI/EXEC, and Redis
runs a transaction only once it has received all of it: a writer killed mid-send leaves
nothing behind; a staged key also expires on its own), counters and the FIFO ring move
together, and several writers may race freely.

Key layout (named by :class:`replay.keys.TableKeys`), all under
``fsrl:{namespace}:t:{table}:`` (the *prefix*):
``meta`` (hash: spec, digest, capacity, limiter bounds, epoch), ``state`` (hash:
head/tail chunk seqs, size, inserts, deletes, samples, malformed, blocked seconds),
``writers`` (hash: writer id -> last accepted writer seq), ``c:<seq>`` (one chunk),
``stage:<nonce>`` (a chunk in flight, inside a transaction).
"""

from __future__ import annotations

import hashlib

import redis

from replay.codec import HEADER_SIZE, MAGIC, MAX_CHUNK_ROWS, PROTOCOL_VERSION

# Reply codes shared by the scripts.
OK, DUP, BLOCKED, NO_TABLE, MALFORMED = 1, 0, -1, -2, -3

# KEYS: meta, state, writers.  ARGV: chunk key prefix, staging key.
# The writer sends, inside one MULTI/EXEC, ``SET <staging key> <chunk> PX ...`` and then
# this script, which validates the staged chunk's header and either commits it
# (RENAME to ``c:<seq>``: O(1), the bytes are never copied through Lua) or deletes it.
COMMIT = f"""
local meta, state, writers = KEYS[1], KEYS[2], KEYS[3]
local cprefix, staged = ARGV[1], ARGV[2]
local m = redis.call('HMGET', meta, 'digest', 'record_size', 'capacity', 'min_size', 'spi', 'max_diff')
if not m[1] then
  redis.call('DEL', staged)
  return {{{NO_TABLE}, 'no table'}}
end
local len = redis.call('STRLEN', staged)
local blob = redis.call('GETRANGE', staged, 0, {HEADER_SIZE - 1})
if len < {HEADER_SIZE} or string.sub(blob, 1, 4) ~= '{MAGIC.decode()}' then
  redis.call('DEL', staged)
  redis.call('HINCRBY', state, 'malformed', 1)
  return {{{MALFORMED}, 'not a chunk (bad magic or shorter than the header)'}}
end
local wid = string.sub(blob, 33, 40)
local wseq = struct.unpack('<I4', blob, 41)
local last = redis.call('HGET', writers, wid)
if last then
  last = tonumber(last)
  if wseq <= last then
    redis.call('DEL', staged)
    return {{{DUP}, 'duplicate'}}
  end
  if wseq ~= last + 1 then
    redis.call('DEL', staged)
    return {{{BLOCKED}, 'order'}}
  end
end
local function bad(reason)
  redis.call('DEL', staged)
  redis.call('HINCRBY', state, 'malformed', 1)
  redis.call('HSET', writers, wid, wseq)
  return {{{MALFORMED}, reason}}
end
local version, hlen = struct.unpack('<I2I2', blob, 5)
if version ~= {PROTOCOL_VERSION} then return bad('protocol version ' .. version .. ' (the table speaks {PROTOCOL_VERSION})') end
if hlen ~= {HEADER_SIZE} then return bad('header length ' .. hlen) end
if string.sub(blob, 9, 16) ~= m[1] then return bad('schema digest differs from the table schema') end
local n, rs, slen = struct.unpack('<I4I4I4', blob, 17)
if rs ~= tonumber(m[2]) then return bad('record size ' .. rs .. ' differs from the table (' .. m[2] .. ')') end
local capacity = tonumber(m[3])
if n < 1 or n > {MAX_CHUNK_ROWS} or n > capacity then return bad('row count ' .. n .. ' out of range') end
local body = {HEADER_SIZE} + math.ceil(4 * n / 8) * 8 + math.ceil(slen / 8) * 8
if len ~= body + n * rs then return bad('length ' .. len .. ' but header implies ' .. (body + n * rs)) end
local s = redis.call('HMGET', state, 'inserts', 'deletes', 'samples', 'size', 'tail')
local inserts, deletes, samples = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
local size, tail = tonumber(s[4]), tonumber(s[5])
if inserts + 1 - deletes > tonumber(m[4]) then
  if (inserts + 1) * tonumber(m[5]) - samples > tonumber(m[6]) then
    redis.call('DEL', staged)
    -- A writer's first chunk held back: record its predecessor, so the chunks it
    -- pipelined after this one wait their turn instead of overtaking it.
    if not last then redis.call('HSET', writers, wid, wseq - 1) end
    return {{{BLOCKED}, 'rate'}}
  end
end
local seq = redis.call('HINCRBY', state, 'head', 1)
redis.call('RENAME', staged, cprefix .. seq)
redis.call('PERSIST', cprefix .. seq)
redis.call('HSET', writers, wid, wseq)
size = size + n
inserts = inserts + n
while size > capacity do
  local key = cprefix .. tail
  local h = redis.call('GETRANGE', key, 16, 19)
  if #h == 4 then
    local old = struct.unpack('<I4', h)
    size = size - old
    deletes = deletes + old
    redis.call('UNLINK', key)
  end
  tail = tail + 1
end
redis.call('HSET', state, 'size', size, 'inserts', inserts, 'deletes', deletes, 'tail', tail)
return {{{OK}, seq, size}}
"""

# Lua: append {seq, header .. priorities} of each live chunk with seq in
# [max(first, tail), min(head, first + most - 1)] to ``out``.
_COLLECT = f"""
local function collect(out, cprefix, first, most, head, tail)
  local start = math.max(first, tail)
  local stop = math.min(head, start + most - 1)
  for seq = start, stop do
    local key = cprefix .. seq
    local h = redis.call('GETRANGE', key, 0, {HEADER_SIZE - 1})
    if #h == {HEADER_SIZE} then
      local n = struct.unpack('<I4', h, 17)
      out[#out + 1] = seq
      out[#out + 1] = h .. redis.call('GETRANGE', key, {HEADER_SIZE}, {HEADER_SIZE} + 4 * n - 1)
    end
  end
end
"""

# KEYS: meta, state.  ARGV: chunk key prefix, batch size, first new seq to index,
# most chunks to index, count (1: count the batch if allowed, 0: only ask). The
# rate-limiter gate of a sample: if a batch may be drawn now, counts it (when asked to); either way returns {code, head, tail, epoch, seq1, prefix1, ...} with the
# chunks inserted since the sampler's last look (same round trip). The records follow
# in the same pipeline as plain GETRANGEs.
GATE = (
    _COLLECT
    + f"""
local meta, state = KEYS[1], KEYS[2]
local cprefix, batch = ARGV[1], tonumber(ARGV[2])
local first, most, count = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local m = redis.call('HMGET', meta, 'min_size', 'spi', 'min_diff', 'epoch')
if not m[1] then return {{{NO_TABLE}}} end
local s = redis.call('HMGET', state, 'inserts', 'deletes', 'samples', 'head', 'tail')
local inserts, deletes, samples = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
local head, tail = tonumber(s[4]), tonumber(s[5])
local code = {OK}
if inserts - deletes < tonumber(m[1]) then code = {BLOCKED} end
if inserts * tonumber(m[2]) - samples - 1 < tonumber(m[3]) then code = {BLOCKED} end
if batch < 1 then code = {BLOCKED} end
if code == {OK} and count then redis.call('HINCRBY', state, 'samples', batch) end
local out = {{code, head, tail, m[4]}}
collect(out, cprefix, first, most, head, tail)
return out
"""
)

# KEYS: meta, state.  ARGV: chunk key prefix, first seq wanted, most chunks to return.
# Returns {{OK, head, tail, epoch, seq1, prefix1, seq2, prefix2, ...}} where prefix is the
# fixed header plus the priorities of each live chunk with seq >= max(first, tail).
INDEX = (
    _COLLECT
    + f"""
local meta, state = KEYS[1], KEYS[2]
local cprefix, first, most = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then return {{{NO_TABLE}}} end
local s = redis.call('HMGET', state, 'head', 'tail')
local head, tail = tonumber(s[1]), tonumber(s[2])
local out = {{{OK}, head, tail, epoch}}
collect(out, cprefix, first, most, head, tail)
return out
"""
)

# KEYS: (none used but prefix).  ARGV: chunk key prefix, packed <I4I4 (seq, byte offset)*,
# packed <f4 priorities. Writes each priority into its chunk if the chunk still exists.
UPDATE_PRIORITIES = """
local cprefix, packed, prios = ARGV[1], ARGV[2], ARGV[3]
local count = #prios / 4
local pos = 1
local written = 0
for i = 1, count do
  local seq, off
  seq, off, pos = struct.unpack('<I4I4', packed, pos)
  local key = cprefix .. seq
  if redis.call('EXISTS', key) == 1 then
    redis.call('SETRANGE', key, off, string.sub(prios, 4 * i - 3, 4 * i))
    written = written + 1
  end
end
return written
"""

ALL = {"commit": COMMIT, "gate": GATE, "index": INDEX, "update_priorities": UPDATE_PRIORITIES}
SHAS = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in ALL.items()}


def load_all(client: redis.Redis) -> None:
    """Load every script into the server's cache (again after a restart)."""
    for name, src in ALL.items():
        sha = client.script_load(src)
        if sha != SHAS[name]:  # pragma: no cover - would mean a hashing mismatch
            raise RuntimeError(f"script {name}: server sha {sha} != local {SHAS[name]}")
