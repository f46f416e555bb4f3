"""The HTTP side: one asyncio server answering for every portal, each on its own loopback address.

The portal a request is for is the local address it arrived on. Pages come from the portal's CMS (cached
until the world advances); faults are applied here, with raw control of the connection where a fault needs
it (resets, truncated bodies, stalls, trickles, floods). Per host the server counts requests and bytes and records the most
connections open at once and the smallest gap between two requests, so politeness can be measured.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import ipaddress
import resource
import socket
import struct
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from simulator.cms import Cms, Page, Route, cms_for
from simulator.world import Fault, Portal, World

PAGE_CACHE_BYTES = 512 * 2**20
_SERVER_NAMES = {"trs": "TRS WCM", "hanweb": "Hanweb jcms", "json_api": "nginx", "static": "Apache"}
_NOT_FOUND = "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>"
_GONE = "<html><head><title>410 Gone</title></head><body><h1>410 Gone</h1></body></html>"
RESET_AFTER_SECONDS = 0.3  # a reset mid-body waits this long after the part it sent
HUGE_PAGE_BYTES = 50 * 2**20
_PADDING = b"<p>" + b"&#160;" * (2**20 // 6) + b"</p>\n"
TRICKLE_BYTES, TRICKLE_SECONDS = 16, 0.5


@dataclass
class HostStats:
    """What one portal's host saw. Gaps are between request arrivals, in seconds."""

    requests: int = 0
    bytes_sent: int = 0
    open_connections: int = 0
    max_connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    min_gap: float | None = None
    disallowed_requests: int = 0  # requests for paths robots.txt disallows
    busy_seconds: float = 0.0  # spent answering (latency, rendering, faults): a crawl polite to it waits this too
    statuses: Counter[int] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)  # requests per path and query, as sent
    last_arrival: float | None = None

    def snapshot(self) -> HostStats:
        copy = HostStats(**{k: v for k, v in vars(self).items() if k not in ("statuses", "paths")})
        copy.statuses, copy.paths = Counter(self.statuses), Counter(self.paths)
        return copy


class _CountingServer(web.Server):
    """aiohttp's low-level server, told of every connection so the stats can count open ones per host."""

    def __init__(self, *args: object, stats: dict[str, HostStats], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._stats = stats
        self._host_of: dict[RequestHandler, HostStats] = {}

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(handler, transport)
        stats = self._stats.get(transport.get_extra_info("sockname")[0])
        if stats is not None:
            stats.open_connections += 1
            stats.max_connections = max(stats.max_connections, stats.open_connections)
            self._host_of[handler] = stats

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        stats = self._host_of.pop(handler, None)
        if stats is not None:
            stats.open_connections -= 1


def raise_open_files_limit() -> None:
    """Hundreds of listening sockets and their connections need more than the usual 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class WorldServer:
    """Serves a world on one port of every portal's loopback address."""

    def __init__(self, world: World, port: int = 0) -> None:
        for portal in world.portals:
            if not ipaddress.ip_address(portal.host).is_loopback:
                raise ValueError(f"portal host {portal.host} is not a loopback address")
        self.world = world
        self.port = port
        self.portals = {p.host: p for p in world.portals}
        self.cms_of: dict[int, Cms] = {p.index: cms_for(world, p) for p in world.portals}
        self.stats = {p.host: HostStats() for p in world.portals}
        self._faults = {p.index: {f.path: f for f in p.faults} for p in world.portals}
        self._disallowed = {p.index: tuple(self.cms_of[p.index].robots_disallowed()) for p in world.portals}
        self._hits: Counter[tuple[str, str]] = Counter()
        self._routes: dict[int, tuple[int, dict[str, Route]]] = {}
        self._pages: OrderedDict[tuple[str, str], tuple[int, Page]] = OrderedDict()  # least recently used first
        self._cached_bytes = 0
        self._server: web.Server | None = None
        self._listeners: list[asyncio.AbstractServer] = []

    # ------------------------------------------------------------ start and stop

    async def start(self) -> None:
        raise_open_files_limit()
        loop = asyncio.get_running_loop()
        self._server = _CountingServer(self._handle, stats=self.stats, access_log=None,
                                       handler_cancellation=True)
        for _attempt in range(20):
            try:
                await self._listen(loop)
                return
            except OSError:  # the port is taken on one of the hosts: try another for all of them
                await self._close_listeners()
                self.port = 0
        raise OSError("no port is free on all the portals' addresses")

    async def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._server is not None
        for portal in self.world.portals:
            listener = await loop.create_server(self._server, portal.host, self.port, reuse_address=True, backlog=256)
            self._listeners.append(listener)
            if self.port == 0:
                self.port = listener.sockets[0].getsockname()[1]

    async def _close_listeners(self) -> None:
        for listener in self._listeners:
            listener.close()
        for listener in self._listeners:
            await listener.wait_closed()
        self._listeners = []

    async def stop(self) -> None:
        for listener in self._listeners:
            listener.close()
        if self._server is not None:
            await self._server.shutdown(timeout=1.0)
        await self._close_listeners()

    def reset_stats(self) -> None:
        self.stats.update({host: HostStats() for host in self.stats})
        self._hits.clear()

    def add_fault(self, portal: Portal, fault: Fault) -> None:
        portal.faults.append(fault)
        self._faults[portal.index][fault.path] = fault

    # ------------------------------------------------------------ answering

    def _page(self, portal: Portal, request: web.BaseRequest, form: dict[str, str], path: str) -> Page | None:
        """The page at `path` (the request's, unless a fault serves another)."""
        cms = self.cms_of[portal.index]
        answer = cms.dynamic(request.method, path, request.query, form, f"http://{portal.host}:{self.port}")
        if answer is not None:
            return answer
        version = self.world.version
        key = (portal.host, path)
        cached = self._pages.get(key)
        if cached is not None and cached[0] == version:
            self._pages.move_to_end(key)
            return cached[1]
        routes = self._routes.get(portal.index)
        if routes is None or routes[0] != version:
            routes = (version, cms.routes())
            self._routes[portal.index] = routes
        route = routes[1].get(path)
        if route is None:
            return None
        page = route()
        if page.status == 200:
            # A CMS publishes these as static files, which the web server validates (nginx and IIS send an ETag); its
            # dynamic answers (search, JSON and XML data) come without one.
            page.headers["ETag"] = f'"{hashlib.blake2b(page.body, digest_size=8).hexdigest()}"'
        self._remember(key, version, page)
        return page

    def _remember(self, key: tuple[str, str], version: int, page: Page) -> None:
        """Keep rendered pages up to PAGE_CACHE_BYTES: Word-pasted reports weigh ~200 KB each."""
        old = self._pages.pop(key, None)
        if old is not None:
            self._cached_bytes -= len(old[1].body)
        self._pages[key] = (version, page)
        self._cached_bytes += len(page.body)
        while self._cached_bytes > PAGE_CACHE_BYTES:
            _, (_, dropped) = self._pages.popitem(last=False)
            self._cached_bytes -= len(dropped.body)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        host = request.transport.get_extra_info("sockname")[0] if request.transport else ""
        portal = self.portals.get(host)
        if portal is None:
            return web.Response(status=421, text="misdirected")
        stats = self.stats[host]
        now = time.monotonic()
        if stats.last_arrival is not None:
            gap = now - stats.last_arrival
            stats.min_gap = gap if stats.min_gap is None else min(stats.min_gap, gap)
        stats.last_arrival = now
        stats.requests += 1
        stats.paths[request.raw_path] += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        if request.path.startswith(self._disallowed[portal.index]):
            stats.disallowed_requests += 1
        try:
            response = await self._respond(portal, request)
        finally:
            stats.in_flight -= 1
            stats.busy_seconds += time.monotonic() - now
        stats.statuses[response.status] += 1
        if isinstance(response, web.Response) and response.body is not None:
            stats.bytes_sent += len(response.body)  # type: ignore[arg-type]
        return response

    async def _respond(self, portal: Portal, request: web.BaseRequest) -> web.StreamResponse:
        if portal.latency:
            await asyncio.sleep(portal.latency)
        form: dict[str, str] = {}
        if request.method == "POST" and request.can_read_body:
            form = dict(parse_qsl((await request.read()).decode("utf-8", "replace")))
        fault = self._faults[portal.index].get(request.path)
        within = False
        if fault is not None:
            self._hits[(portal.host, fault.path)] += 1
            within = fault.times is None or self._hits[(portal.host, fault.path)] <= fault.times
            early = await self._fault_before(fault, within, request)
            if early is not None:
                return early
        # A changed page: the list, fetched before the change, still links the article; it now holds another report.
        path = fault.target if fault is not None and fault.kind == "changing_page" and fault.target else request.path
        page = self._page(portal, request, form, path)
        if page is None:
            return self._plain(portal, Page(_NOT_FOUND.encode(), status=404))
        if fault is not None and within:
            damaged = await self._damage(fault, portal, request, page)
            if damaged is not None:
                return damaged
        etag = page.headers.get("ETag")
        if etag is not None and request.method == "GET" and etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers={"ETag": etag, "Server": _SERVER_NAMES[portal.cms]})
        return self._plain(portal, page)

    async def _fault_before(self, fault: Fault, within: bool, request: web.BaseRequest) -> web.StreamResponse | None:
        """The faults that answer instead of the page; None lets the page be served."""
        kind = fault.kind
        if kind == "not_found":
            return web.Response(status=404, body=_NOT_FOUND.encode(), content_type="text/html")
        if kind == "gone":
            return web.Response(status=410, body=_GONE.encode(), content_type="text/html")
        if kind in ("server_error_burst", "robots_error") and within:
            status = fault.status or 500
            headers = {"Retry-After": "1"} if status == 503 else {}
            return web.Response(status=status, text=f"{status} Server Error", headers=headers)
        if kind == "slow":
            await asyncio.sleep(fault.seconds or 0)
        if kind == "connection_reset" and within:
            _reset(request)
            return web.Response(status=500)  # never sent: the connection is gone
        if kind == "redirect_chain":
            hop = int(request.query.get("hop", "0") or 0)
            location = f"{fault.path}?hop={hop + 1}" if hop < 2 else fault.target or "/"
            return web.Response(status=302 if hop < 2 else 301, headers={"Location": location})
        if kind == "redirect_loop":
            location = fault.path if request.query.get("loop") else f"{fault.path}?loop=1"
            return web.Response(status=302, headers={"Location": location})
        if kind in ("offsite_redirect", "bad_scheme_redirect"):
            return web.Response(status=302, headers={"Location": fault.target or "/"})
        if kind == "moved_column":
            if fault.status == 301:
                query = f"?{request.query_string}" if request.query_string else ""
                return web.Response(status=301, headers={"Location": f"{fault.target}{query}"})
            return web.Response(status=404, body=_NOT_FOUND.encode(), content_type="text/html")
        return None

    async def _damage(self, fault: Fault, portal: Portal, request: web.BaseRequest, page: Page) -> web.StreamResponse | None:
        """The faults that spoil the page on its way; None serves it whole."""
        kind = fault.kind
        if kind in ("read_timeout", "robots_timeout"):
            return await self._stall(portal, request, page, fault.seconds or 0)
        if kind in ("truncated_body", "reset_mid_body"):
            return await self._truncate(portal, request, page, reset=kind == "reset_mid_body")
        if kind == "truncated_gzip":
            packed = gzip.compress(page.body, mtime=0)
            headers = {**self._headers(portal, page), "Content-Encoding": "gzip"}
            return web.Response(status=page.status, body=packed[: len(packed) * 2 // 3], headers=headers)
        if kind == "wrong_content_length":
            # The CMS measured the page in characters, not bytes: a client reads that many bytes and stops.
            characters = len(page.body.decode(portal.encoding, "replace"))
            return web.Response(status=page.status, body=page.body[:characters], headers=self._headers(portal, page))
        if kind == "huge_page":
            return await self._huge(portal, request, page)
        if kind == "slow_loris":
            return await self._trickle(portal, request, page)
        return None

    def _headers(self, portal: Portal, page: Page) -> dict[str, str]:
        content_type = f"{page.content_type}; charset={page.charset}" if page.charset else page.content_type
        return {"Content-Type": content_type, "Server": _SERVER_NAMES[portal.cms], **page.headers}

    def _plain(self, portal: Portal, page: Page) -> web.Response:
        return web.Response(status=page.status, body=page.body, headers=self._headers(portal, page))

    async def _stall(self, portal: Portal, request: web.BaseRequest, page: Page, seconds: float) -> web.StreamResponse:
        """Headers now, the body never: the client's read times out; the server drops it after `seconds`."""
        response = web.StreamResponse(status=page.status, headers=self._headers(portal, page))
        response.content_length = len(page.body)
        await response.prepare(request)
        await asyncio.sleep(seconds)
        if request.transport is not None:
            request.transport.abort()
        return response

    async def _truncate(self, portal: Portal, request: web.BaseRequest, page: Page, *, reset: bool) -> web.StreamResponse:
        """The full Content-Length announced, part of the body sent, then the connection closed or reset (after a
        moment, so the client has read the headers and the part: the reset comes mid-body)."""
        response = web.StreamResponse(status=page.status, headers=self._headers(portal, page))
        response.content_length = len(page.body)
        await response.prepare(request)
        await response.write(page.body[: len(page.body) // 3])
        if reset:
            await asyncio.sleep(RESET_AFTER_SECONDS)
            _reset(request)
        elif request.transport is not None:
            request.transport.abort()
        return response

    async def _huge(self, portal: Portal, request: web.BaseRequest, page: Page) -> web.StreamResponse:
        """The page swollen to HUGE_PAGE_BYTES, chunked (no Content-Length to refuse it by), until the client hangs up."""
        response = web.StreamResponse(status=page.status, headers=self._headers(portal, page))
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await response.write(page.body[: len(page.body) // 2])
            for _ in range(-(-HUGE_PAGE_BYTES // len(_PADDING))):
                await response.write(_PADDING)
            await response.write(page.body[len(page.body) // 2:])
            await response.write_eof()
        except ConnectionError:  # the client stopped reading: as it should
            pass
        return response

    async def _trickle(self, portal: Portal, request: web.BaseRequest, page: Page) -> web.StreamResponse:
        """Headers at once, then TRICKLE_BYTES every TRICKLE_SECONDS: every read is quick, the page takes hours."""
        response = web.StreamResponse(status=page.status, headers=self._headers(portal, page))
        response.content_length = len(page.body)
        await response.prepare(request)
        try:
            for start in range(0, len(page.body), TRICKLE_BYTES):
                await response.write(page.body[start:start + TRICKLE_BYTES])
                await asyncio.sleep(TRICKLE_SECONDS)
        except ConnectionError:
            pass
        return response


def _reset(request: web.BaseRequest) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), as an overloaded portal's load balancer does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
