"""``lambdaguard serve``: run the collector until SIGINT/SIGTERM.

Every flag has an environment variable (see :mod:`lambdaguard.collector.settings`)
and a config-file key; flags win over the environment, which wins over the file.
Once listening, one line goes to stdout:
``lambdaguard collector listening http=<url> grpc=<host:port|off> store=<url>``
(so scripts and tests can start it with ports 0 and learn the ports).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of `lambdaguard serve`."""
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="sqlite:///PATH (default ./.lambdaguard/lambdaguard.db) or postgresql://… DSN",
    )
    parser.add_argument("--bind", metavar="ADDR", help="listen address (default 127.0.0.1)")
    parser.add_argument("--http-port", type=int, metavar="N", help="OTLP/HTTP port (default 4318)")
    parser.add_argument(
        "--grpc-port", metavar="N", help="OTLP/gRPC port (default 4317; 'off' disables)"
    )
    parser.add_argument(
        "--token",
        action="append",
        metavar="TOKEN",
        help="accepted bearer token (repeat for rotation); required off loopback",
    )
    parser.add_argument("--tls-cert", metavar="PEM", help="TLS certificate chain")
    parser.add_argument("--tls-key", metavar="PEM", help="TLS private key")
    parser.add_argument(
        "--forward", metavar="URL", help="upstream OTLP/HTTP endpoint to pass telemetry on to"
    )
    parser.add_argument(
        "--forward-header",
        action="append",
        metavar="NAME=VALUE",
        help="header sent upstream (repeatable)",
    )
    parser.add_argument("--max-body-bytes", type=int, metavar="N", help="largest request body")
    parser.add_argument("--max-inflight", type=int, metavar="N", help="requests processed at once")
    parser.add_argument("--max-connections", type=int, metavar="N", help="open HTTP connections")
    parser.add_argument(
        "--span-window",
        metavar="DURATION",
        help="how long span ids are kept for de-duplication (24h)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from lambdaguard.collector.settings import parse_duration
    from lambdaguard.errors import ConfigError

    grpc_port: int | str | None = None
    if args.grpc_port is not None:
        if args.grpc_port.lower() in ("off", "none"):
            grpc_port = "off"
        else:
            try:
                grpc_port = int(args.grpc_port)
            except ValueError:
                raise ConfigError(
                    f"--grpc-port: expected a port number or 'off', got {args.grpc_port!r}"
                ) from None
    headers = None
    if args.forward_header:
        pairs = []
        for item in args.forward_header:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise ConfigError(f"--forward-header: expected NAME=VALUE, got {item!r}")
            pairs.append((name.strip(), value.strip()))
        headers = tuple(pairs)
    values: dict[str, Any] = {
        "store_url": args.store,
        "bind": args.bind,
        "http_port": args.http_port,
        "tokens": tuple(args.token) if args.token else None,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "forward_url": args.forward,
        "forward_headers": headers,
        "max_body_bytes": args.max_body_bytes,
        "max_inflight": args.max_inflight,
        "max_connections": args.max_connections,
        "span_window_s": (
            parse_duration(args.span_window, name="--span-window") if args.span_window else None
        ),
    }
    if grpc_port == "off":
        values["grpc_port_off"] = True
    elif grpc_port is not None:
        values["grpc_port"] = grpc_port
    return values


def run(args: argparse.Namespace) -> int:
    """Start the collector and serve until interrupted."""
    import logging

    from lambdaguard.collector.server import start_collector
    from lambdaguard.collector.settings import load_config
    from lambdaguard.errors import StoreError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides = _overrides(args)
    grpc_off = overrides.pop("grpc_port_off", False)
    config = load_config(overrides, config_file=args.config)
    if grpc_off:
        import dataclasses

        config = dataclasses.replace(config, grpc_port=None)
    try:
        handle = start_collector(config)
    except StoreError as exc:
        print(f"lambdaguard serve: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        print(f"lambdaguard serve: cannot listen: {exc}", file=sys.stderr)
        return 3

    def _stop(signum: int, _frame: Any) -> None:
        threading.Thread(target=handle.stop, name="lambdaguard-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    import gc

    # Everything imported and built at startup lives as long as the process:
    # moving it out of the collector's view means a full collection walks only
    # what requests allocate (measured ~0.6 -> ~0.2 us of GC per span).
    gc.collect()
    gc.freeze()
    from sqlalchemy.engine import make_url

    shown = make_url(config.store_url).render_as_string(hide_password=True)
    print(
        f"lambdaguard collector listening http={handle.http_url} "
        f"grpc={handle.grpc_target or 'off'} store={shown}",
        flush=True,
    )
    threading.Thread(target=_report, args=(handle,), name="lambdaguard-stats", daemon=True).start()
    handle.wait()
    return 0


def _report(handle: Any, every_s: float = 60.0) -> None:
    """Log the counters once a minute when they changed (drops and throttling show up here)."""
    import logging
    import time

    log = logging.getLogger("lambdaguard.collector")
    last: dict[str, int] = {}
    while True:
        time.sleep(every_s)
        stats = handle.stats()
        if stats != last:
            log.info("stats %s", " ".join(f"{k}={v}" for k, v in sorted(stats.items())))
            last = stats
