"""Outbound connections, seen at the Python socket layer.

Every Python HTTP client (http.client, urllib3/requests/botocore, httpx,
aiohttp) and every pure-Python database driver ends in three calls this module
wraps: ``socket.getaddrinfo`` (the host name as the code asked for it),
``socket.socket.connect``/``connect_ex`` (one connection attempt, its port and
whether it failed) and ``ssl.SSLContext.wrap_socket``/``wrap_bio`` (the
connection is TLS; ``wrap_bio`` is how asyncio does TLS). Only stream sockets
to IPv4/IPv6 addresses are counted; UDP (DNS) and Unix sockets are not
connections to a host.

The host name, in order of trust:

1. inside asyncio's ``loop.create_connection(host, ...)`` (``asyncio.open_connection``,
   redis.asyncio, anyio so httpx's async client): that host; but if it is a
   literal address that the same task just resolved from a name with
   ``loop.getaddrinfo`` (anyio resolves first, then connects to each
   address), that name. asyncio never calls ``getaddrinfo`` for a literal
   address, so only this call knows the code asked for one;
2. the name given to ``getaddrinfo`` on the same thread just before the
   connect (urllib3, ``socket.create_connection``, DB drivers);
3. the last name that resolved to that address and port on any thread
   (aiohttp resolves in an executor thread and caches the answer), then to
   that address with no port;
4. the address itself.

A name that does not resolve is a failed connection to that name.

Through an HTTP proxy the destination is what matters. The first bytes sent on
each plaintext connection are read for an HTTP request line (``socket.send``/
``sendall``, which every HTTP/1 client ends in, asyncio's transports included;
TLS sockets write through ``ssl`` and are never read): ``CONNECT host:port``
or an absolute-form request (``GET http://host/path``) makes that host and
port the connection's, and the proxy's own ``host:port`` goes beside it
(``Connection.proxy``). A proxy connection reused for another absolute-form
destination counts as a connection to that one. Requests to AWS's own Lambda
extensions on loopback (:mod:`lambdaguard.agent.aws_extensions`) are read the
same way, every request on the connection. Only the request line is read; not
a header, not the body.

Non-blocking connects (asyncio, aiohttp, any selector loop) end in one of
three ways this module also watches: ``getsockopt(SOL_SOCKET, SO_ERROR)``
(asyncio's completion check: non-zero is a failure), ``connect``/``connect_ex``
again on the same socket (the same attempt, not a new one), or ``close``
while still unconnected (a timeout or cancellation: a failure, decided by
whether ``getpeername`` works).

lambdaguard's own traffic (export, Extensions API) runs inside
:class:`lambdaguard.agent.recorder.suppressed` and is never recorded.
"""

from __future__ import annotations

import errno
import itertools
import socket
import sys
import threading
import weakref
from types import ModuleType
from typing import Any

from lambdaguard.agent import _guard, _imports, recorder

__all__ = ["install", "is_aws_host", "mark_aws", "uninstall"]

_MARK = "__lambdaguard_original__"
_AWS_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
_MAX_NAMES = 1024
_IN_PROGRESS = frozenset({0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EISCONN})

_aws_endpoints: set[tuple[str, int]] = set()
_ignored: set[tuple[str, int]] = set()
# (address, port asked, 0 if none) -> (name asked, resolution sequence)
_names: dict[tuple[str, int], tuple[str, int]] = {}
_sequence = itertools.count()
_local = threading.local()
_open: weakref.WeakKeyDictionary[Any, recorder.OpenConnection] = weakref.WeakKeyDictionary()
# Sockets whose non-blocking connect is still in progress, and its attempt.
_pending: weakref.WeakKeyDictionary[Any, recorder.OpenConnection] = weakref.WeakKeyDictionary()
# Plaintext sockets nothing was sent on yet, and sockets whose every request
# line is read (to a proxy in absolute form, to an AWS extension on loopback).
_unsent: weakref.WeakKeyDictionary[Any, recorder.OpenConnection] = weakref.WeakKeyDictionary()
_watched: weakref.WeakKeyDictionary[Any, recorder.OpenConnection] = weakref.WeakKeyDictionary()
_METHODS = frozenset(
    {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"CONNECT"}
)
_MAX_LINE = 8192
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# The host the running asyncio create_connection was asked for (a ContextVar,
# made when asyncio is first imported: each task sees its own).
_asked: Any = None
# (name, port, addresses) of the last loop.getaddrinfo awaited in this task.
_task_resolved: Any = None


def mark_aws(host: str, port: int) -> None:
    """Remember that ``host:port`` is an AWS endpoint a botocore client uses."""
    if len(_aws_endpoints) < _MAX_NAMES:
        _aws_endpoints.add((host.lower(), port))


def ignore(host: str, port: int) -> None:
    """Never record connections to ``host:port`` (the Lambda Runtime API)."""
    _ignored.add((host.lower(), port))


def is_aws_host(host: str, port: int) -> bool:
    """Whether ``host`` is an AWS service endpoint (by name, or seen as a client endpoint)."""
    low = host.lower().rstrip(".")
    return low.endswith(_AWS_SUFFIXES) or (low, port) in _aws_endpoints


def _resolved(host: Any, port: Any, result: Any) -> None:
    if not isinstance(host, str | bytes):
        return
    name = host.decode("idna") if isinstance(host, bytes) else host
    addresses = {str(item[4][0]) for item in result if len(item) > 4 and item[4]}
    seq = next(_sequence)
    _local.last = (name, addresses, seq)
    if len(_names) >= _MAX_NAMES:
        _names.clear()
    port_number = _port(port)
    for address in addresses:
        _names[(address, port_number)] = (name, seq)


def _port(port: Any) -> int:
    if isinstance(port, int):
        return port
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    return int(port) if isinstance(port, str) and port.isdigit() else 0


def _resolve_failed(host: Any, port: Any) -> None:
    rec = recorder.current()
    if rec is None or not isinstance(host, str) or not isinstance(port, int | str):
        return
    port_number = _port(port)
    if (host.lower(), port_number) in _ignored:
        return
    rec.open_connection(host, port_number, is_aws_host(host, port_number)).failed = True


def _host_for(address: str, port: int) -> str:
    # The newest resolution of this address wins: this thread's own (urllib3,
    # create_connection), or another thread's (asyncio resolves in an executor).
    # Another thread's counts only for the same port when one was given: a
    # literal 127.0.0.1:8080 is not "localhost" because localhost:443 resolved.
    asked = _asked_host(address, port)
    if asked:
        return asked
    last = getattr(_local, "last", None)
    anywhere = _names.get((address, port)) or _names.get((address, 0))
    if last is not None and address in last[1] and (anywhere is None or last[2] >= anywhere[1]):
        return str(last[0])
    return anywhere[0] if anywhere is not None else address


def _connecting(sock: Any, address: Any) -> recorder.OpenConnection | None:
    rec = recorder.current()
    if rec is None:
        return None
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return None
    if not isinstance(address, tuple) or len(address) < 2:
        return None
    port = int(address[1])
    host = _host_for(str(address[0]), port)
    if (host.lower(), port) in _ignored or (str(address[0]), port) in _ignored:
        return None
    conn = rec.open_connection(host, port, is_aws_host(host, port))
    ssl_module = sys.modules.get("ssl")
    if ssl_module is not None and isinstance(sock, ssl_module.SSLSocket):
        conn.tls = True
    else:
        _unsent[sock] = conn
    _open[sock] = conn
    return conn


def _authority(target: str, default_port: int) -> tuple[str, int]:
    host, colon, port = target.rpartition(":")
    if not colon or not port.isdigit() or (host.count(":") and not host.endswith("]")):
        return target.strip("[]").lower(), default_port
    return host.strip("[]").lower(), int(port)


def _request_line(data: Any) -> tuple[str, str] | None:
    if not isinstance(data, bytes | bytearray | memoryview):
        return None  # the send itself will refuse it; not a reason to switch the hook off
    head = bytes(memoryview(data).cast("B")[:_MAX_LINE])
    end = head.find(b"\r\n")
    if end <= 0:
        return None
    method, _, rest = head[:end].partition(b" ")
    target, _, version = rest.rpartition(b" ")
    if method not in _METHODS or not target or not version.startswith(b"HTTP/"):
        return None
    return method.decode("ascii"), target.decode("latin-1")


def _through_proxy(conn: recorder.OpenConnection, host: str, port: int) -> None:
    conn.proxy = conn.proxy or f"{conn.host}:{conn.port}"
    conn.host = host
    conn.port = port
    conn.aws = is_aws_host(host, port)


def _sent(sock: Any, data: Any) -> None:
    # The first bytes on a plaintext connection (or any on a watched one).
    conn = _unsent.pop(sock, None)
    if conn is None:
        conn = _watched.get(sock)
        if conn is None:
            return
    line = _request_line(data)
    if line is None:
        return
    method, target = line
    if method == "CONNECT":
        _through_proxy(conn, *_authority(target, 443))
        return
    if target.startswith(("http://", "https://")):
        parts = target.split("/", 3)  # scheme, "", authority, path
        host, port = _authority(parts[2], 443 if target.startswith("https") else 80)
        if host and conn.proxy and (host, port) != (conn.host, conn.port):
            # The same proxy connection, reused for another destination.
            rec = recorder.current()
            if rec is not None:
                proxy = conn.proxy
                conn = rec.open_connection(host, port, is_aws_host(host, port))
                conn.proxy = proxy
        elif host:
            _through_proxy(conn, host, port)
        _watched[sock] = conn
        return
    if conn.host.lower() in _LOOPBACK:
        # Imported here, not at INIT: only loopback plaintext requests need it.
        from lambdaguard.agent import aws_extensions

        if aws_extensions.is_extension(conn.host, conn.port):
            aws_extensions.request(conn.port, method, target)
            _watched[sock] = conn


def _failed(conn: recorder.OpenConnection) -> None:
    conn.failed = True


def _in_progress(sock: Any, conn: recorder.OpenConnection) -> None:
    _pending[sock] = conn


def _settled(sock: Any, error: int) -> None:
    # getsockopt(SO_ERROR) on a socket whose connect was in progress.
    conn = _pending.pop(sock, None)
    if conn is not None and error:
        conn.failed = True


def _closing(sock: Any) -> None:
    # Closed while its connect was in progress: connected only if it has a peer.
    conn = _pending.pop(sock, None)
    if conn is None:
        return
    try:
        sock.getpeername()
    except OSError:
        conn.failed = True


def _hostname(server_hostname: Any) -> Any:
    # anyio (httpx's async client) passes the IDNA-encoded name as bytes.
    if isinstance(server_hostname, bytes):
        return server_hostname.decode("idna")
    return server_hostname


def _tls(sock: Any, server_hostname: Any) -> None:
    _unsent.pop(sock, None)
    conn = _open.get(sock)
    if conn is None:
        return
    server_hostname = _hostname(server_hostname)
    conn.tls = True
    if isinstance(server_hostname, str) and server_hostname and conn.host != server_hostname:
        conn.host = server_hostname
        conn.aws = conn.aws or is_aws_host(server_hostname, conn.port)


def _tls_bio(server_hostname: Any) -> None:
    # asyncio wraps a memory BIO, not the socket: mark the newest plaintext
    # attempt to that host as TLS.
    rec = recorder.current()
    server_hostname = _hostname(server_hostname)
    if rec is None or not isinstance(server_hostname, str):
        return
    for conn in reversed(rec.conns):
        if not conn.tls and conn.host == server_hostname:
            conn.tls = True
            return


def _patch_socket(module: ModuleType) -> None:
    if getattr(module.getaddrinfo, _MARK, None) is not None:
        return
    original_getaddrinfo = module.getaddrinfo
    original_connect = module.socket.connect
    original_connect_ex = module.socket.connect_ex
    original_getsockopt = module.socket.getsockopt
    original_close = module.socket.close
    original_send = module.socket.send
    original_sendall = module.socket.sendall
    sol_socket, so_error = module.SOL_SOCKET, module.SO_ERROR

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = original_getaddrinfo(host, port, *args, **kwargs)
        except OSError:
            if not recorder.is_suppressed():
                _guard.safe("net.resolve_failed", _resolve_failed, host, port, default=None)
            raise
        if not recorder.is_suppressed():
            _guard.safe("net.resolved", _resolved, host, port, result, default=None)
        return result

    def attempt(sock: Any, address: Any) -> recorder.OpenConnection | None:
        # A second connect on a socket whose connect is in progress continues
        # that attempt (select-then-connect_ex); otherwise it is a new one.
        if _pending:
            again = _guard.safe("net.again", _pending.pop, sock, None, default=None)
            if again is not None:
                return again
        return _guard.safe("net.connect", _connecting, sock, address, default=None)

    def connect(self: Any, address: Any) -> None:
        conn = attempt(self, address)
        if conn is None:
            return original_connect(self, address)  # type: ignore[no-any-return]
        try:
            original_connect(self, address)
        except (BlockingIOError, InterruptedError):
            # In progress, not failed (yet): settled by SO_ERROR, connect or close.
            _guard.safe("net.pending", _in_progress, self, conn, default=None)
            raise
        except OSError as exc:
            if exc.errno != errno.EISCONN:  # EISCONN: the earlier attempt succeeded
                _guard.safe("net.failed", _failed, conn, default=None)
            raise
        return None

    def connect_ex(self: Any, address: Any) -> int:
        conn = attempt(self, address)
        result: int = original_connect_ex(self, address)
        if conn is not None:
            if result in _IN_PROGRESS and result not in (0, errno.EISCONN):
                _guard.safe("net.pending", _in_progress, self, conn, default=None)
            elif result not in _IN_PROGRESS:
                _guard.safe("net.failed", _failed, conn, default=None)
        return result

    def getsockopt(self: Any, level: int, option: int, *args: Any) -> Any:
        result = original_getsockopt(self, level, option, *args)
        if _pending and level == sol_socket and option == so_error and not args:
            _guard.safe("net.settled", _settled, self, result, default=None)
        return result

    def close(self: Any) -> None:
        if _pending:
            _guard.safe("net.closing", _closing, self, default=None)
        original_close(self)

    def send(self: Any, data: Any, *args: Any) -> int:
        if _unsent or _watched:
            _guard.safe("net.sent", _sent, self, data, default=None)
        result: int = original_send(self, data, *args)
        return result

    def sendall(self: Any, data: Any, *args: Any) -> None:
        if _unsent or _watched:
            _guard.safe("net.sent", _sent, self, data, default=None)
        original_sendall(self, data, *args)

    for wrapper, original in (
        (getaddrinfo, original_getaddrinfo),
        (connect, original_connect),
        (connect_ex, original_connect_ex),
        (getsockopt, original_getsockopt),
        (close, original_close),
        (send, original_send),
        (sendall, original_sendall),
    ):
        setattr(wrapper, _MARK, original)
    setattr(module, "getaddrinfo", getaddrinfo)  # noqa: B010 - mypy: ModuleType has no such attribute
    module.socket.connect = connect
    module.socket.connect_ex = connect_ex
    # getsockopt is inherited from _socket.socket; uninstall removes this override.
    module.socket.getsockopt = getsockopt
    module.socket.close = close
    # send/sendall are inherited from _socket.socket too; uninstall removes them.
    module.socket.send = send
    module.socket.sendall = sendall


def _patch_ssl(module: ModuleType) -> None:
    context = module.SSLContext
    if getattr(context.wrap_socket, _MARK, None) is not None:
        return
    original_wrap_socket = context.wrap_socket
    original_wrap_bio = context.wrap_bio

    def wrap_socket(self: Any, sock: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_wrap_socket(self, sock, *args, **kwargs)
        if not kwargs.get("server_side") and not (args and args[0]):
            hostname = kwargs.get("server_hostname", args[3] if len(args) > 3 else None)
            _guard.safe("net.tls", _tls, sock, hostname, default=None)
        return result

    def wrap_bio(self: Any, incoming: Any, outgoing: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_wrap_bio(self, incoming, outgoing, *args, **kwargs)
        if not kwargs.get("server_side") and not (args and args[0]):
            hostname = kwargs.get("server_hostname", args[1] if len(args) > 1 else None)
            _guard.safe("net.tls_bio", _tls_bio, hostname, default=None)
        return result

    setattr(wrap_socket, _MARK, original_wrap_socket)
    setattr(wrap_bio, _MARK, original_wrap_bio)
    context.wrap_socket = wrap_socket
    context.wrap_bio = wrap_bio


def _is_literal(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.strip("[]"))
        except (OSError, ValueError):
            continue
        return True
    return False


def _asked_host(address: str, port: int) -> str:
    # Inside asyncio's create_connection(host=...): that host, unless it is a
    # literal address the same task has just resolved from a name (anyio, so
    # httpx's async client, resolves first and then connects to each address).
    asked = _asked.get() if _asked is not None else None
    if not asked:
        return ""
    host = str(asked)
    if _is_literal(host) and _task_resolved is not None:
        resolved = _task_resolved.get()
        if resolved is not None and address in resolved[2] and resolved[1] in (0, port):
            return str(resolved[0])
    return host


def _loop_resolved(host: Any, port: Any, result: Any) -> None:
    if isinstance(host, bytes):  # anyio passes IDNA-encoded names
        host = host.decode("idna")
    if isinstance(host, str) and _task_resolved is not None:
        addresses = frozenset(str(item[4][0]) for item in result if len(item) > 4 and item[4])
        _task_resolved.set((host, _port(port), addresses))


def _forget_asked(token: Any) -> None:
    try:
        _asked.reset(token)
    except ValueError:  # set in another context (a coroutine moved between tasks)
        _asked.set(None)
    # A resolution is used by the connection that follows it, not by a later one.
    _task_resolved.set(None)


def _patch_asyncio(module: ModuleType) -> None:
    global _asked, _task_resolved  # noqa: PLW0603 - made once, when asyncio is first imported
    loop_class = module.BaseEventLoop
    if getattr(loop_class.create_connection, _MARK, None) is not None:
        return
    import contextvars  # already imported by asyncio itself

    if _asked is None:
        _asked = contextvars.ContextVar("lambdaguard_asked_host", default=None)
        _task_resolved = contextvars.ContextVar("lambdaguard_task_resolved", default=None)
    asked = _asked
    original_create = loop_class.create_connection
    original_getaddrinfo = loop_class.getaddrinfo

    async def create_connection(
        self: Any,
        protocol_factory: Any,
        host: Any = None,
        port: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        token = (
            _guard.safe("net.asked", asked.set, host, default=None)
            if isinstance(host, str)
            else None
        )
        try:
            return await original_create(self, protocol_factory, host, port, *args, **kwargs)
        finally:
            if token is not None:
                _guard.safe("net.asked_reset", _forget_asked, token, default=None)

    async def getaddrinfo(self: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        # Awaited in the caller's task, so a ContextVar set here is seen by
        # the create_connection that task makes next.
        result = await original_getaddrinfo(self, host, port, *args, **kwargs)
        if not recorder.is_suppressed():
            _guard.safe("net.loop_resolved", _loop_resolved, host, port, result, default=None)
        return result

    setattr(create_connection, _MARK, original_create)
    setattr(getaddrinfo, _MARK, original_getaddrinfo)
    loop_class.create_connection = create_connection
    loop_class.getaddrinfo = getaddrinfo


def install() -> None:
    """Record outbound connections from now on (idempotent)."""
    _patch_socket(socket)
    _imports.when_imported("ssl", _patch_ssl)
    _imports.when_imported(
        "asyncio.base_events",
        lambda module: _guard.safe("net.asyncio", _patch_asyncio, module, default=None),
    )


def uninstall() -> None:
    """Put socket and ssl back as they were (idempotent)."""
    for owner, name in (
        (socket, "getaddrinfo"),
        (socket.socket, "connect"),
        (socket.socket, "connect_ex"),
        (socket.socket, "close"),
    ):
        original = getattr(getattr(owner, name), _MARK, None)
        if original is not None:
            setattr(owner, name, original)
    for name in ("getsockopt", "send", "sendall"):
        if getattr(socket.socket.__dict__.get(name), _MARK, None) is not None:
            delattr(socket.socket, name)  # back to the inherited _socket.socket method
    base_events = sys.modules.get("asyncio.base_events")
    if base_events is not None:
        for name in ("create_connection", "getaddrinfo"):
            original = getattr(getattr(base_events.BaseEventLoop, name), _MARK, None)
            if original is not None:
                setattr(base_events.BaseEventLoop, name, original)
    ssl_module = sys.modules.get("ssl")
    if ssl_module is not None:
        for name in ("wrap_socket", "wrap_bio"):
            original = getattr(getattr(ssl_module.SSLContext, name), _MARK, None)
            if original is not None:
                setattr(ssl_module.SSLContext, name, original)
    _names.clear()
    _open.clear()
    _pending.clear()
    _unsent.clear()
    _watched.clear()
    extensions = sys.modules.get("lambdaguard.agent.aws_extensions")
    if extensions is not None:
        extensions.forget()  # the ports are read again from the environment next time
