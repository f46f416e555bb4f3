"""Distributed mode (crawler/distributed.py) against a real redis-server on loopback: three workers and the ingester
crawl a 30-portal world, one worker is killed mid-crawl (SIGKILL), and the night still ends with the database the
single-process crawl of the same world makes, every request fetched as often as that crawl fetched it (except those
the killed worker had taken, fetched again), and no host serving two requests at once. The Redis steps themselves
(claim, pop, take over from a dead worker) are tested directly, in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from crawl_support import FAST, REPO, Workspace, count_rows, night, stored_reports, workspace
from scrapy import Request

from crawler.context import DueReport
from crawler.distributed import followed_as
from crawler.items import ATTACHMENT, DocumentItem, FetchErrorItem
from crawler.night import ALL_WORKERS, ItemFormatError, Learnt, Night, Snapshot, dump_item, load_item
from registry.units import COUNTY_GOVERNMENT, Unit
from simulator import RunningWorld, build_world, serve_world
from spiders.base import ARTICLE_ITEM
from storage import Store

PORTALS = 30
SEED = 11
WORKERS = 3
# The production timeout, not FAST's 3 s: on a loaded machine a page can take longer, and a retry would count as a
# request fetched twice. So no request times out: slow pages are waited for, and the one read-timeout fault drops its
# connection after 30 s; the crawler never asks a host again while the host is still answering.
SETTINGS = {**FAST, "DOWNLOAD_TIMEOUT": 60, "NIANBAO_NIGHT": night(1), "NIANBAO_LEASE_SECONDS": 8}
MIDWAY = 1200  # documents stored when a worker is killed, of about 3,800


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/setup.sh installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path_factory.mktemp("redis"))], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "redis-server did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


# ------------------------------------------------------------------------------------- the Redis steps alone


@pytest.fixture
def tonight(redis_url: str) -> Iterator[Night]:
    server = redis.Redis.from_url(redis_url, db=1)
    server.flushdb()
    yield Night(server, "2025-01-01")
    server.flushdb()


def test_a_dead_workers_taken_requests_go_to_the_next_holder(tonight: Night) -> None:
    for n in range(3):
        assert tonight.push("a.example", f"request {n}".encode())
    assert tonight.claim("w1", held=0, most=10, lease_ms=300) is not None
    assert tonight.claim("w2", held=0, most=10, lease_ms=300) is None  # leased: one worker per host
    assert tonight.pop("w2", ["a.example"]) is None  # nor may another worker pop its requests
    first, second = tonight.pop("w1", ["a.example"]), tonight.pop("w1", ["a.example"])
    assert first is not None and second is not None
    tonight.done({"a.example": [first.taken_id]})  # w1 finished the first, then died with the second taken
    time.sleep(0.4)
    claim = tonight.claim("w2", held=0, most=10, lease_ms=300)
    assert claim is not None and (claim.host, claim.recovered, claim.seeded) == ("a.example", 1, False)
    assert tonight.learnt().counts == {"hosts_claimed": 2, "requests_recovered": 1}  # counted for the run as it happens
    rest = [tonight.pop("w2", ["a.example"]) for _ in range(3)]
    assert sorted(p.data for p in rest if p is not None) == [b"request 1", b"request 2"]
    assert tonight.release("w1", "a.example") == -1  # not w1's any more
    assert tonight.release("w2", "a.example") == 0  # w2 still has them taken, and the host was never seeded
    tonight.done({"a.example": [p.taken_id for p in rest if p is not None]})
    tonight.seeded("a.example")
    assert tonight.release("w2", "a.example") == 1 and tonight.hosts_left() == 0


def test_what_the_workers_learnt_adds_up(tonight: Night) -> None:
    tonight.learn(columns={("a.example", "http://a.example/nb/"): "110101000000"}, reached=["a.example"],
                  unfinished=["http://a.example/nb/"], counts={"documents": 2})
    tonight.learn(columns={("a.example", "http://a.example/old/"): False}, reached=["b.example"],
                  unfinished=["http://b.example/nb/"], counts={"documents": 3}, stats={"downloader/request_count": 7})
    assert tonight.learnt() == Learnt(
        columns={("a.example", "http://a.example/nb/"): "110101000000", ("a.example", "http://a.example/old/"): False},
        reached={"a.example", "b.example"}, unfinished={"http://a.example/nb/", "http://b.example/nb/"},
        counts={"documents": 5}, stats={"downloader/request_count": 7})


def test_a_worker_claims_its_share_of_the_hosts(tonight: Night) -> None:
    for host in ("a", "b", "c", "d"):
        tonight.push(host, b"request")
    for worker in ("w1", "w2"):
        tonight.renew(worker, (), 10_000)  # alive
    claimed = [tonight.claim("w1", held=n, most=10, lease_ms=10_000) for n in range(3)]
    assert [c is not None for c in claimed] == [True, True, False]  # 4 hosts, 2 workers: 2 each
    assert tonight.claim("w2", held=0, most=1, lease_ms=10_000) is not None
    assert tonight.claim("w2", held=1, most=1, lease_ms=10_000) is None  # `most` caps it too


def test_a_request_is_queued_once_and_filtered_in_the_same_step(tonight: Night) -> None:
    for unique in ((tonight.dupefilter, "fingerprint"), (tonight.followed, "http://a/zwgk/")):
        assert tonight.push("a", b"first", unique)
        assert not tonight.push("a", b"second", unique)
    assert tonight.server.llen(tonight.queue("a")) == 2
    assert tonight.server.smembers(tonight.dupefilter) == {b"fingerprint"}


def test_a_request_queued_past_the_filter_is_queued_once_as_itself() -> None:
    """A dead worker's taken article, fetched again, queues its next file again: the same, so queued once (the
    file's key); a retry of another attempt, the file under another report, or reached by a redirect is another."""
    article = DocumentItem(kind="article", portal="127.0.1.1:80", url="http://127.0.1.1/a.html", final_url="http://127.0.1.1/a.html",
                           status=200, headers={}, body=b"", fetched_at="2025-02-20T01:00:00+00:00")
    file = Request("http://127.0.1.1/r.pdf", dont_filter=True, meta={ARTICLE_ITEM: article, "retry_times": 0})
    again = Request(file.url, dont_filter=True, meta={ARTICLE_ITEM: replace(article, fetched_at="2025-02-20T01:05:00+00:00")})
    others = [file.replace(meta={**file.meta, "retry_times": 1}),
              file.replace(meta={ARTICLE_ITEM: replace(article, url="http://127.0.1.1/b.html")}),
              file.replace(meta={**file.meta, "redirect_urls": ["http://127.0.1.1/go.jsp"]})]
    keys = [followed_as(r, "fingerprint") for r in (file, again, *others)]
    assert keys[0] == keys[1] and len(set(keys)) == 4


def test_items_a_killed_ingester_was_storing_are_taken_again(tonight: Night) -> None:
    unit = Unit(unit_id="110101000000", name="东城区人民政府", division_code="110101000000", level=COUNTY_GOVERNMENT,
                province="北京市", parent_county="东城区", portal_url="http://127.0.1.1/", column_urls=("http://127.0.1.1/nb/",),
                aliases=("东城区",))
    snapshot = Snapshot(night=tonight.night, run_id=3, full=False, revisit_nights=30, units=[unit], settled={unit.unit_id},
                        reports_due=[DueReport(unit.unit_id, "http://127.0.1.1/nb/1.html", 2021)], remembered={"127.0.1.1": {"x": None}},
                        unfinished=["http://127.0.1.1/nb/"])
    tonight.publish(snapshot, [("http://127.0.1.1/nb/", 200, '"e1"', None, "ab" * 32)], ["127.0.1.1"])
    assert tonight.snapshot() == snapshot
    assert tonight.url_state("http://127.0.1.1/nb/") == (200, '"e1"', None, "ab" * 32)
    tonight.server.rpush(tonight.items, b"one", b"two")
    first, second = tonight.take_item(), tonight.take_item()
    assert first is not None and second is not None and (first[1], second[1]) == (b"one", b"two")
    tonight.item_stored(first[0])  # then the ingester dies storing the second; started again, it publishes again
    tonight.publish(snapshot, [], ["127.0.1.1"])
    again = tonight.take_item()
    assert again is not None and again[1] == b"two" and tonight.take_item() is None
    assert tonight.url_state("http://127.0.1.1/nb/") is None  # the snapshot is tonight's database, not last night's


def test_items_round_trip_through_redis_bytes_and_all() -> None:
    body = bytes(range(256)) * 3
    article = DocumentItem(kind="article", portal="127.0.1.1:80", url="http://127.0.1.1/a.html", final_url="http://127.0.1.1/b.html",
                           status=200, headers={"Content-Type": ["text/html; charset=gbk"]}, body="年报".encode("gbk"),
                           fetched_at="2025-02-20T01:00:00+00:00", unit_id="110101000000", filename="b.html",
                           attachments=[DocumentItem(kind=ATTACHMENT, portal="127.0.1.1:80", url="http://127.0.1.1/r.pdf",
                                                     final_url="http://127.0.1.1/r.pdf", status=200, headers={}, body=body,
                                                     fetched_at="2025-02-20T01:00:01+00:00", from_store=True)])
    error = FetchErrorItem(portal="127.0.1.1:80", units=("110101000000", "110102000000"), url="http://127.0.1.1/x",
                           kind="http_404", message="HTTP 404")
    assert load_item(dump_item(article)) == article
    assert load_item(dump_item(error)) == error
    for bad in (b"\x80not json", b'{"document": {"kind": "page"}}', b'{"error": {"portal": 1}}', b"[]"):
        with pytest.raises(ItemFormatError, match="not a nianbao item"):
            load_item(bad)


def test_ingest_names_a_redis_it_cannot_reach(tmp_path: Path) -> None:
    done = subprocess.run([str(Path(sys.executable).with_name("nianbao")), "ingest", "redis://127.0.0.1:1/0",
                           "--units", str(tmp_path / "units.csv"), "--db", str(tmp_path / "db"), "--store", str(tmp_path / "store")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in done.stderr
    assert not (tmp_path / "db").exists()


# ---------------------------------------------------------------------------------- a night on 30 portals


@dataclass
class NightOf30:
    requests: dict[str, Counter[str]]  # per host, per path and query, as the simulator counted them
    max_in_flight: dict[str, int]
    summary: dict[str, Any]
    space: Workspace
    port: int  # the world's, in its URLs and in pages' links

    @classmethod
    def of(cls, world: RunningWorld, summary: dict[str, Any], space: Workspace) -> NightOf30:
        stats = world.stats()
        return cls({h: s.paths for h, s in stats.items()}, {h: s.max_in_flight for h, s in stats.items()}, summary, space,
                   world.port)


@dataclass
class Distributed:
    night: NightOf30
    victim_hosts: dict[str, Counter[str]]  # the killed worker's hosts → paths of the requests it had taken, not finished
    survivors: list[int]  # exit codes
    keys_left: list[bytes]


@pytest.fixture(scope="module")
def nights(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NightOf30, Distributed]]:
    """The world served twice (each server keeps its own per-host records), crawled at the same time by a single
    process and by the distributed workers: together they keep both cores busy."""
    with serve_world(build_world(PORTALS, SEED)) as one, serve_world(build_world(PORTALS, SEED)) as other:
        directory = tmp_path_factory.mktemp("single")
        space = workspace(directory, one)
        crawl = _start("crawl", (space.units, space.db, space.store), directory / "crawl.log")
        try:
            distributed = _distributed(other, redis_url, tmp_path_factory.mktemp("distributed"))
            single = NightOf30.of(one, json.loads(_finish(crawl, directory / "crawl.log").splitlines()[-1]), space)
        finally:
            if crawl.poll() is None:
                os.killpg(crawl.pid, signal.SIGKILL)
        yield single, distributed


@pytest.fixture(scope="module")
def single(nights: tuple[NightOf30, Distributed]) -> NightOf30:
    return nights[0]


@pytest.fixture(scope="module")
def distributed(nights: tuple[NightOf30, Distributed]) -> Distributed:
    return nights[1]


def _distributed(world: RunningWorld, redis_url: str, directory: Path) -> Distributed:
    """Three workers and the ingester; once a third of the night is stored, the worker with the most requests in
    progress is killed."""
    space = workspace(directory, world)
    server = redis.Redis.from_url(redis_url)
    workers = [_start("work", (redis_url, space.store), directory / f"worker{n}.log") for n in range(WORKERS)]
    try:
        _wait(lambda: server.zcard(ALL_WORKERS) >= WORKERS, "the workers to start")  # so the first does not take all hosts
        ingester = _start("ingest", (redis_url, space.units, space.db, space.store), directory / "ingest.log")
        tonight = Night(server, night(1))
        _wait(lambda: count_rows(space.db, "documents") >= MIDWAY and _busiest(tonight)[1] > 0, "the crawl to get going")
        victim_id, _ = _busiest(tonight)
        victim = next(w for w in workers if victim_id.endswith(f":{w.pid}"))
        os.kill(victim.pid, signal.SIGSTOP)  # holds still while its hosts are read
        victim_hosts = {host: _taken_paths(tonight, host) for host in _holdings(tonight).get(victim_id, [])}
        os.killpg(victim.pid, signal.SIGKILL)
        summary = json.loads(_finish(ingester, directory / "ingest.log").splitlines()[-1])
        survivors = [w.wait(timeout=120) for w in workers if w is not victim]
    finally:
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    return Distributed(NightOf30.of(world, summary, space), victim_hosts, survivors, server.keys("nianbao:*"))


def _start(function: str, args: tuple[Any, ...], log: Path) -> subprocess.Popen[str]:
    """crawler.run.crawl, crawler.distributed.work or ingest in a subprocess, printing its summary as JSON."""
    arguments = ", ".join(repr(a) if isinstance(a, str) else f"Path({str(a)!r})" for a in args)
    call = f"{function}({arguments}, settings_overrides={SETTINGS!r})"
    script = ("import dataclasses, json\nfrom pathlib import Path\nfrom crawler.distributed import ingest, work\n"
              f"from crawler.run import crawl\nprint(json.dumps(dataclasses.asdict({call})))\n")
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=log.open("w"),
                            start_new_session=True)


def _finish(process: subprocess.Popen[str], log: Path) -> str:
    out, _ = process.communicate(timeout=900)
    assert process.returncode == 0, log.read_text()[-3000:]
    return out


def _wait(condition: Any, what: str, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _holdings(tonight: Night) -> dict[str, list[str]]:
    held: dict[str, list[str]] = {}
    for host, worker in tonight.server.hgetall(tonight.key("holders")).items():
        held.setdefault(worker.decode(), []).append(host.decode())
    return held


def _taken_paths(tonight: Night, host: str) -> Counter[str]:
    urls = [pickle.loads(data)["url"] for data in tonight.server.hvals(tonight.taken(host))]  # scrapy-redis's serializer
    return Counter(urlsplit(url)._replace(scheme="", netloc="").geturl() for url in urls)


def _busiest(tonight: Night) -> tuple[str, int]:
    """The worker with the most requests taken (popped, not finished), and how many."""
    taken = {w: sum(tonight.server.hlen(tonight.taken(h)) for h in hosts) for w, hosts in _holdings(tonight).items()}
    return max(taken.items(), key=lambda wt: wt[1], default=("", 0))


def _database(night: NightOf30) -> dict[str, set[tuple[Any, ...]]]:
    """What a night leaves in the database, without ids and times, and with the port the world was served on taken out
    of URLs and of the stored bytes (pages link with it)."""
    port = f":{night.port}"
    with sqlite3.connect(night.space.db) as connection, night.space.open_store() as store:
        states = connection.execute("SELECT url, status, sha256 FROM url_state").fetchall()
        errors = connection.execute("SELECT unit_id, url, kind FROM fetch_errors").fetchall()
        return {"url_state": {(url.replace(port, ""), status, _content(store, sha256, port)) for url, status, sha256 in states},
                "errors": {(unit_id, url and url.replace(port, ""), kind) for unit_id, url, kind in errors}}


def _content(store: Store, sha256: str | None, port: str) -> str | None:
    if sha256 is None:
        return None
    with store.open_document(sha256) as document:
        return hashlib.sha256(document.read().replace(port.encode(), b"")).hexdigest()


def test_the_night_completes_after_a_worker_is_killed(distributed: Distributed) -> None:
    night50 = distributed.night
    assert night50.summary["finish_reason"] == "finished"
    assert distributed.survivors == [0] * (WORKERS - 1)
    taken = sum(sum(paths.values()) for paths in distributed.victim_hosts.values())
    assert taken > 0, "the killed worker had nothing in progress: the test proves nothing"
    with night50.space.open_store() as store:
        stats = store.run(night50.summary["run_id"])["stats"]
        runs = store.db.execute("SELECT count(*), min(status) FROM crawl_runs").fetchone()
    assert stats["requests_recovered"] == taken  # every request the victim had taken was queued again
    assert runs == (1, "finished")  # one run, the ingester's: workers open no database
    assert distributed.keys_left == [], "the night's keys are removed once it is stored"


def test_the_database_equals_the_single_process_crawls(single: NightOf30, distributed: Distributed) -> None:
    with single.space.open_store() as reference, distributed.night.space.open_store() as store:
        assert store.integrity_ok()
        expected = stored_reports(reference)
        assert len(expected) > 2500
        assert stored_reports(store) == expected
    theirs, ours = _database(single), _database(distributed.night)
    # The rows that differ, each side's: a failure names them instead of printing both databases.
    assert {table: (ours[table] - rows, rows - ours[table]) for table, rows in theirs.items()} == {"url_state": (set(), set()),
                                                                                                "errors": (set(), set())}


def test_no_request_is_fetched_twice(single: NightOf30, distributed: Distributed) -> None:
    """Every host served the distributed night each request it served the single-process crawl, as often; the killed
    worker's hosts served again, at most, the requests it had taken and their robots.txt. What a taken request had
    queued past the duplicate filter (a retry, a report's next file) is not queued again when it is fetched again."""
    requests = distributed.night.requests
    assert len(requests) == PORTALS and sum(sum(paths.values()) for paths in single.requests.values()) > 3500
    differ = {h: (paths - requests[h], requests[h] - paths) for h, paths in single.requests.items()
              if h not in distributed.victim_hosts and paths != requests[h]}
    assert differ == {}
    for host, taken in distributed.victim_hosts.items():
        fewer, more = single.requests[host] - requests[host], requests[host] - single.requests[host]
        assert (fewer, more - taken - Counter({"/robots.txt": 1})) == (Counter(), Counter()), host


def test_no_host_saw_two_requests_at_once(single: NightOf30, distributed: Distributed) -> None:
    assert {h: n for h, n in single.max_in_flight.items() if n > 1} == {}
    # A page the server stalls on keeps it busy after the worker that asked is killed, and past the lease (as past a
    # single-process crawl's timeout): the only hosts that may then see the next holder's request at the same time.
    stalling = {p.host for p in build_world(PORTALS, SEED).portals if any(f.kind in ("read_timeout", "slow") for f in p.faults)}
    exempt = stalling & set(distributed.victim_hosts)
    assert {h: n for h, n in distributed.night.max_in_flight.items() if n > 1 and h not in exempt} == {}
