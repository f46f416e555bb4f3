"""A distributed night in Redis: the one place that knows its keys, its atomic steps (Lua) and its wire formats.

Everything lives under `nianbao:<night>:` and is removed by the ingester once the night is complete; the pointer
`nianbao:night` names the night workers should join. Clocks are Redis's own (TIME), so machines need not agree.

    snapshot        what the ingester read from the database for the night: units, incremental state (JSON)
    urls            url → [status, etag, last_modified, sha256] of every URL whose bytes are stored
    hosts           hosts with work left: unseeded, queued, or taken and not yet done
    requests:<host> the host's queue (scrapy-redis serialised requests)
    taken:<host>    id → request popped by the host's holder and not yet done: re-queued if the holder dies
    leases, holders host → lease expiry (ms) / worker holding it: one worker per host, so one request at a time
    seeded          hosts whose portals' first requests are queued
    followed        requests queued past the duplicate filter (navigation, retries, a report's next file,
                    redirects of navigation), each once: however many workers reach a navigation page, or when a
                    dead worker's request is fetched again (distributed.followed_as)
    dupefilter      scrapy-redis's request fingerprints
    items, storing  serialised items waiting for the ingester / id → item being stored by it
    columns, reached, counts, stats   what workers learnt that the run's record and the next night need
    workers         worker → heartbeat expiry (ms), for workers in this night; `nianbao:workers` for all
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

import redis

from crawler.context import DueReport
from crawler.items import DocumentItem, FetchErrorItem
from registry.units import Unit

NAMESPACE = "nianbao"
POINTER = f"{NAMESPACE}:night"
ALL_WORKERS = f"{NAMESPACE}:workers"
REJECTED = f"{NAMESPACE}:rejected-items"  # items the ingester could not read or store: kept, never dropped
FORGOTTEN = "-"  # `columns` value of a 年报 column found dead
_URL_BATCH = 10_000

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

# KEYS hosts, leases, holders, seeded, all workers, counts; ARGV me, ttl ms, hosts held, most hosts, queue prefix, taken
# prefix. A free host is one without a live lease; its previous holder's taken requests go back to the head of its
# queue, and the run's counts say how many (here: the claiming worker may die before it closes).
_CLAIM = _NOW + """
local live = math.max(1, redis.call('ZCOUNT', KEYS[5], now, '+inf'))
local share = math.ceil(redis.call('SCARD', KEYS[1]) / live)
if tonumber(ARGV[3]) >= math.min(share, tonumber(ARGV[4])) then return false end
for _, host in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local expiry = tonumber(redis.call('ZSCORE', KEYS[2], host) or '0')
  if expiry < now and redis.call('HGET', KEYS[3], host) ~= ARGV[1] then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), host)
    redis.call('HSET', KEYS[3], host, ARGV[1])
    local taken = redis.call('HVALS', ARGV[6] .. host)
    for _, data in ipairs(taken) do redis.call('RPUSH', ARGV[5] .. host, data) end
    redis.call('DEL', ARGV[6] .. host)
    redis.call('HINCRBY', KEYS[6], 'hosts_claimed', 1)
    redis.call('HINCRBY', KEYS[6], 'requests_recovered', #taken)
    return {host, #taken, redis.call('SISMEMBER', KEYS[4], host)}
  end
end
return false
"""

# KEYS ids, holders; ARGV me, queue prefix, taken prefix, hosts in order of preference. Pop and note as taken in one step.
_POP = """
for i = 4, #ARGV do
  local host = ARGV[i]
  if redis.call('HGET', KEYS[2], host) == ARGV[1] then
    local data = redis.call('RPOP', ARGV[2] .. host)
    if data then
      local id = redis.call('INCR', KEYS[1])
      redis.call('HSET', ARGV[3] .. host, id, data)
      return {host, id, data}
    end
  end
end
return false
"""

# KEYS hosts, a set of what is queued once; ARGV queue prefix, host, request, its member of that set ('' for none).
_PUSH = """
if ARGV[4] ~= '' and redis.call('SADD', KEYS[2], ARGV[4]) == 0 then return 0 end
redis.call('LPUSH', ARGV[1] .. ARGV[2], ARGV[3])
redis.call('SADD', KEYS[1], ARGV[2])
return 1
"""

# KEYS hosts, leases, holders, seeded; ARGV me, host, queue, taken. 1 released, 0 work left, -1 not ours any more.
_RELEASE = """
if redis.call('HGET', KEYS[3], ARGV[2]) ~= ARGV[1] then return -1 end
if redis.call('LLEN', ARGV[3]) > 0 or redis.call('HLEN', ARGV[4]) > 0 or redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 0 then
  return 0
end
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
"""

# KEYS leases, holders, all workers, night's workers; ARGV me, ttl ms, hosts held. The hosts no longer ours.
_RENEW = _NOW + """
local expiry = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[3], expiry, ARGV[1])
redis.call('ZADD', KEYS[4], expiry, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local lost = {}
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then redis.call('ZADD', KEYS[1], expiry, ARGV[i])
  else table.insert(lost, ARGV[i]) end
end
return lost
"""

# KEYS leases, holders, all workers, night's workers; ARGV me, hosts held. Leases end now: whatever was taken is
# re-queued by the next holder without waiting for the lease to run out.
_LEAVE = """
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
"""

# KEYS items, storing, ids. The ingester's next item, kept under an id until it is stored.
_TAKE = """
local data = redis.call('LPOP', KEYS[1])
if not data then return false end
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], id, data)
return {id, data}
"""

# KEYS storing, items.
_RESTORE = """
for _, data in ipairs(redis.call('HVALS', KEYS[1])) do redis.call('LPUSH', KEYS[2], data) end
redis.call('DEL', KEYS[1])
"""

# KEYS a workers set; ARGV me, ttl ms.
_ALIVE = _NOW + "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])"

# KEYS a workers set. How many are alive.
_LIVE = _NOW + "return redis.call('ZCOUNT', KEYS[1], now, '+inf')"


class NightError(Exception):
    """Redis cannot be reached, or holds no night to work on: the message says which and where."""


class ItemFormatError(ValueError):
    """An item in Redis that is not one nianbao wrote."""


def connect(url: str) -> redis.Redis:
    try:
        server = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10, retry_on_timeout=True)
        server.ping()
    except (ValueError, redis.RedisError) as exc:
        raise NightError(f"cannot reach Redis at {url}: {exc}") from None
    return server


def host_of(url: str) -> str:
    """The host a request is polite to: its queue and its lease go by it."""
    return urlsplit(url).hostname or ""


@dataclass(frozen=True)
class Claim:
    host: str
    recovered: int  # requests a dead holder had taken, back in the queue
    seeded: bool


@dataclass(frozen=True)
class Popped:
    host: str
    taken_id: int
    data: bytes


@dataclass
class Learnt:
    """What workers learnt in a night besides items."""

    columns: dict[tuple[str, str], str | bool | None]  # 年报 columns (portal, column) → owner, or False when found dead
    reached: set[str]  # portals that answered
    unfinished: set[str]  # columns a failed list page left unread to the end (crawler/context.py)
    counts: dict[str, int]  # the spider's counters
    stats: dict[str, int]  # Scrapy's download stats


@dataclass
class Snapshot:
    """What workers need of the database for one night, as the ingester read it when the night began."""

    night: str
    run_id: int
    full: bool
    revisit_nights: int
    units: list[Unit]
    settled: set[str]  # units whose report on last year is stored
    reports_due: list[DueReport]
    remembered: dict[str, dict[str, str | None]]  # portal → {年报 column: owner}
    unfinished: list[str]  # columns paged to the end tonight: a page of theirs failed last night

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "settled": sorted(self.settled)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Snapshot:
        record = json.loads(text)
        lists = {"column_urls", "aliases"}
        units = [Unit(**{k: tuple(v) if k in lists else v for k, v in unit.items()}) for unit in record["units"]]
        return cls(**{**record, "units": units, "settled": set(record["settled"]),
                      "reports_due": [DueReport(**due) for due in record["reports_due"]]})


class Night:
    """One night's keys and steps in Redis."""

    def __init__(self, server: redis.Redis, night: str) -> None:
        self.server = server
        self.night = night
        self.prefix = f"{NAMESPACE}:{night}"
        self.requests = self.key("requests")  # scrapy-redis's SCHEDULER_QUEUE_KEY; hosts' queues are under it
        self.dupefilter = self.key("dupefilter")  # scrapy-redis's SCHEDULER_DUPEFILTER_KEY
        self.followed = self.key("followed")
        self.items = self.key("items")
        self._claim = server.register_script(_CLAIM)
        self._pop = server.register_script(_POP)
        self._push = server.register_script(_PUSH)
        self._release = server.register_script(_RELEASE)
        self._renew = server.register_script(_RENEW)
        self._leave = server.register_script(_LEAVE)
        self._live = server.register_script(_LIVE)
        self._take = server.register_script(_TAKE)
        self._restore = server.register_script(_RESTORE)

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def queue(self, host: str) -> str:
        return f"{self.requests}:{host}"

    def taken(self, host: str) -> str:
        return self.key(f"taken:{host}")

    @classmethod
    def current(cls, server: redis.Redis) -> Night | None:
        """The night the ingester published, if any."""
        night = server.get(POINTER)
        return cls(server, night.decode()) if night else None

    # ---------------------------------------------------------------------------------- the ingester's side

    def publish(self, snapshot: Snapshot, url_states: Iterable[tuple[str, int, str | None, str | None, str]],
                hosts: Iterable[str]) -> None:
        """Write the snapshot and the hosts to crawl, then point workers at the night. Publishing again (a restarted
        ingester) keeps the queues, the taken requests and the items: the night goes on."""
        pipe = self.server.pipeline(transaction=False)
        pipe.delete(self.key("urls"))
        for count, (url, *state) in enumerate(url_states, start=1):
            pipe.hset(self.key("urls"), url, json.dumps(state))
            if count % _URL_BATCH == 0:
                pipe.execute()
        hosts = sorted(set(hosts))
        pipe.hset(self.key("snapshot"), mapping={"snapshot": snapshot.to_json(), "hosts": len(hosts)})
        if hosts:
            pipe.sadd(self.key("hosts"), *hosts)
        pipe.execute()
        # Items a killed ingester was storing go back to the head of the line.
        self._restore(keys=[self.key("storing"), self.items])
        self.server.set(POINTER, self.night)

    def take_item(self) -> tuple[int, bytes] | None:
        """The next item and its id among those being stored, until item_stored or item_rejected."""
        taken = self._take(keys=[self.items, self.key("storing"), self.key("ids")])
        return (int(taken[0]), taken[1]) if taken else None

    def item_stored(self, item_id: int) -> None:
        self.server.hdel(self.key("storing"), item_id)

    def item_rejected(self, item_id: int, data: bytes) -> None:
        pipe = self.server.pipeline()
        pipe.rpush(REJECTED, data)
        pipe.hdel(self.key("storing"), item_id)
        pipe.execute()

    def waiting_items(self) -> int:
        return self.server.llen(self.items)

    def hosts_left(self) -> int:
        return self.server.scard(self.key("hosts"))

    def hosts_total(self) -> int:
        return int(self.server.hget(self.key("snapshot"), "hosts") or 0)

    def workers_in_night(self) -> int:
        return self._live(keys=[self.key("workers")])

    def crawled(self) -> bool:
        """Every host done, every item handed over, every worker gone (its numbers pushed)."""
        return self.hosts_left() == 0 and self.waiting_items() == 0 and self.workers_in_night() == 0

    def learnt(self) -> Learnt:
        """What workers pushed (Night.learn)."""
        columns: dict[tuple[str, str], str | bool | None] = {}
        for field, value in self.server.hgetall(self.key("columns")).items():
            portal, column = json.loads(field)
            columns[(portal, column)] = False if value.decode() == FORGOTTEN else json.loads(value)
        return Learnt(columns, _strings(self.server.smembers(self.key("reached"))),
                      _strings(self.server.smembers(self.key("unfinished"))),
                      _ints(self.server.hgetall(self.key("counts"))), _ints(self.server.hgetall(self.key("stats"))))

    def clear(self) -> None:
        """Remove the night's keys: it is complete and stored."""
        for batch in _batches(self.server.scan_iter(match=f"{self.prefix}:*", count=1000), 1000):
            self.server.unlink(*batch)
        if self.server.get(POINTER) == self.night.encode():
            self.server.delete(POINTER)

    # ---------------------------------------------------------------------------------------- workers' side

    def snapshot(self) -> Snapshot:
        text = self.server.hget(self.key("snapshot"), "snapshot")
        if text is None:
            raise NightError(f"night {self.night} has no snapshot in Redis: was it published by `nianbao ingest`?")
        return Snapshot.from_json(text)

    def url_state(self, url: str) -> tuple[int, str | None, str | None, str] | None:
        """(status, etag, last_modified, sha256) of a URL whose bytes are stored."""
        state = self.server.hget(self.key("urls"), url)
        return tuple(json.loads(state)) if state else None  # type: ignore[return-value]

    def push(self, host: str, data: bytes, once: tuple[str, str] | None = None) -> bool:
        """Queue a request for its host; with `once` (a set's key, a member), only if the member is new to the set,
        added in the same step."""
        unique, member = once or (self.key("hosts"), "")
        return bool(self._push(keys=[self.key("hosts"), unique], args=[f"{self.requests}:", host, data, member]))

    def pop(self, me: str, hosts: list[str]) -> Popped | None:
        """The next request of the first of `hosts` (held by `me`) that has one, noted as taken."""
        if not hosts:
            return None
        found = self._pop(keys=[self.key("ids"), self.key("holders")], args=[me, f"{self.requests}:", self.key("taken:"), *hosts])
        return Popped(found[0].decode(), int(found[1]), found[2]) if found else None

    def claim(self, me: str, held: int, most: int, lease_ms: int) -> Claim | None:
        """A host without a live lease, if `me` holds fewer than its share (hosts left / workers alive) and `most`."""
        found = self._claim(keys=[self.key("hosts"), self.key("leases"), self.key("holders"), self.key("seeded"), ALL_WORKERS,
                                  self.key("counts")],
                            args=[me, lease_ms, held, most, f"{self.requests}:", self.key("taken:")])
        return Claim(found[0].decode(), int(found[1]), bool(found[2])) if found else None

    def seeded(self, host: str) -> None:
        self.server.sadd(self.key("seeded"), host)

    def done(self, taken: Mapping[str, list[int]]) -> None:
        """Requests whose outputs are all queued or pushed: no longer to be re-queued."""
        pipe = self.server.pipeline(transaction=False)
        for host, ids in taken.items():
            pipe.hdel(self.taken(host), *ids)
        pipe.execute()

    def release(self, me: str, host: str) -> int:
        return self._release(keys=[self.key("hosts"), self.key("leases"), self.key("holders"), self.key("seeded")],
                             args=[me, host, self.queue(host), self.taken(host)])

    def renew(self, me: str, hosts: Iterable[str], lease_ms: int) -> list[str]:
        lost = self._renew(keys=[self.key("leases"), self.key("holders"), ALL_WORKERS, self.key("workers")],
                           args=[me, lease_ms, *hosts])
        return [host.decode() for host in lost]

    def leave(self, me: str, hosts: Iterable[str]) -> None:
        self._leave(keys=[self.key("leases"), self.key("holders"), ALL_WORKERS, self.key("workers")], args=[me, *hosts])

    def learn(self, *, columns: Mapping[tuple[str, str], str | bool | None] | None = None, reached: Iterable[str] = (),
              unfinished: Iterable[str] = (), counts: Mapping[str, int] | None = None,
              stats: Mapping[str, int] | None = None) -> None:
        """Push what a worker learnt (Night.learnt reads it back)."""
        pipe = self.server.pipeline()
        for (portal, column), owner in (columns or {}).items():
            pipe.hset(self.key("columns"), json.dumps([portal, column], ensure_ascii=False),
                      FORGOTTEN if owner is False else json.dumps(owner))
        if reached := list(reached):
            pipe.sadd(self.key("reached"), *reached)
        if unfinished := list(unfinished):
            pipe.sadd(self.key("unfinished"), *unfinished)
        for name, value in (counts or {}).items():
            pipe.hincrby(self.key("counts"), name, value)
        for name, value in (stats or {}).items():
            pipe.hincrby(self.key("stats"), name, value)
        pipe.execute()


def alive(server: redis.Redis, me: str, lease_ms: int) -> None:
    """A worker waiting for a night counts among the live ones, so the first to start does not take every host."""
    server.register_script(_ALIVE)(keys=[ALL_WORKERS], args=[me, lease_ms])


def lease_ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _strings(members: Iterable[bytes]) -> set[str]:
    return {member.decode() for member in members}


def _ints(mapping: Mapping[bytes, bytes]) -> dict[str, int]:
    return {name.decode(): int(value) for name, value in mapping.items()}


def _batches(values: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# ------------------------------------------------------------------------------------------------------ items


def dump_item(item: DocumentItem | FetchErrorItem) -> bytes:
    """JSON, bodies in base64: an item's bytes come back exactly, and a stuck item can be read with redis-cli."""
    if isinstance(item, FetchErrorItem):
        return json.dumps({"error": asdict(item)}, ensure_ascii=False).encode()
    return json.dumps({"document": _document_record(item)}, ensure_ascii=False).encode()


def load_item(data: bytes) -> DocumentItem | FetchErrorItem:
    try:
        record = json.loads(data)
        if "error" in record:
            return FetchErrorItem(**{**record["error"], "units": tuple(record["error"]["units"])})
        return _document(record["document"])
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise ItemFormatError(f"not a nianbao item ({type(exc).__name__}: {exc}): {data[:120]!r}") from None


def _document_record(item: DocumentItem) -> dict[str, Any]:
    record = {f.name: getattr(item, f.name) for f in fields(item) if f.name not in ("body", "attachments")}
    return {**record, "body": base64.b64encode(item.body).decode("ascii"),
            "attachments": [_document_record(a) for a in item.attachments]}


def _document(record: dict[str, Any]) -> DocumentItem:
    return DocumentItem(**{**record, "body": base64.b64decode(record["body"], validate=True),
                           "attachments": [_document(a) for a in record["attachments"]]})
