"""The `mediaserver` command: serve, and issue join tokens."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from cryptography.fernet import Fernet

from mediaserver import config, logs
from mediaserver.rtc import tokens

log = logging.getLogger("mediaserver")


def _serve(args: argparse.Namespace) -> int:
    import uvloop
    from aiohttp import web

    from mediaserver.app import build  # here, not at the top: `token` and --help load no server

    # issue 14 finding 11: what the server writes (database, uploads, recordings, keys) is its own: files
    # 0600 and directories 0700, whatever writes them (SQLite, PyAV, the native recorder)
    os.umask(0o077)
    # the flags go in before public_url is derived from the address: links follow the real port and host
    settings = config.load(args.config, overrides={"http_port": args.port, "http_host": args.host})
    logs.setup(settings.log_level, settings.log_json)
    url = f"http://{settings.http_host}:{settings.http_port}/"
    kept = config.keep_generated_keys(settings)
    # issue 14 finding 12: never the whole key in the log, only enough to tell keys apart
    where = f"the whole key is in {kept['api_key']} (mode 0600)" if "api_key" in kept else "as configured"
    log.info("signaling on %s  (API key %s..., %s)", url, settings.api_key[:4], where)
    print(f"mediaserver is up: open {url} to create a room and join it", flush=True)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(
        build(settings, own_process=True),
        host=settings.http_host,
        port=settings.http_port,
        print=None,
        backlog=LISTEN_BACKLOG,
    )
    return 0


# issue 16: connections the kernel queues before the server accepts them. aiohttp's 128 overflows when
# thousands of attendees join at once (a webinar's start): the dropped SYNs are retried after 1 s, then 3 s,
# and their joins take that long. The kernel caps it at net.core.somaxconn (4096 by default since Linux 5.4).
LISTEN_BACKLOG = 4096


def _token(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    if not settings.secret:  # the server's generated one, kept in data_dir since its first start
        settings.secret = config.stored_key(settings, "secret") or ""
    if not settings.secret:
        where = config.key_file(settings, "secret")
        print(
            "no secret: set 'secret' (MEDIASERVER_SECRET), or start the server once on this data_dir: it "
            f"keeps the secret it generates in {where}",
            file=sys.stderr,
        )
        return 2
    print(
        tokens.issue(settings.secret, args.room, args.role, args.name, args.identity or args.name, args.ttl)
    )
    return 0


def _loadtest(argv: list[str]) -> int:
    """`mediaserver loadtest ARGS` is `python -m bench.loadtest ARGS` of this source checkout (issue 18): the
    load tester drives the native load generator, which is built for tests and benchmarks only
    (MEDIASERVER_BUILD_TESTING=1) and is no part of the installed package, so the product does not import
    it: it runs it, when it is there."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isfile(os.path.join(root, "bench", "loadtest.py")):
        print(
            "mediaserver loadtest runs bench/loadtest.py of a source checkout, and this installation has "
            "none: in a checkout, `MEDIASERVER_BUILD_TESTING=1 pip install -e .` and run it there "
            "(docs/benchmarks.md, 'Load testing your own server')",
            file=sys.stderr,
        )
        return 2
    path = os.environ.get("PYTHONPATH", "")
    env = dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))
    os.execve(sys.executable, [sys.executable, "-m", "bench.loadtest", *argv], env)
    return 0  # not reached: the process is the load tester now


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["loadtest"]:  # its options are the load tester's own (`mediaserver loadtest --help`)
        return _loadtest(given[1:])
    ap = argparse.ArgumentParser(
        prog="mediaserver", description="Webinar and meeting server with a native SFU"
    )
    ap.add_argument("--config", help="YAML settings file (see configs/mediaserver.yaml)")
    sub = ap.add_subparsers(dest="cmd")
    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--port", type=int, help="HTTP port (overrides http_port)")
    s.add_argument("--host", help="HTTP listen address (overrides http_host)")
    t = sub.add_parser("token", help="print a signed join token")
    t.add_argument("--room", required=True)
    t.add_argument("--role", default="presenter", choices=tokens.ROLES)
    t.add_argument("--name", default="guest")
    t.add_argument("--identity")
    t.add_argument("--ttl", type=int, default=3600)
    sub.add_parser(
        "sealing-key",
        help="print a new key for the setting sealing_key (every node of a cluster has the same; issue 19)",
    )
    sub.add_parser(
        "loadtest",
        help="load-test a running server, here or on another host (bench/loadtest.py of a source checkout; "
        "`mediaserver loadtest --help`)",
        add_help=False,
    )
    args = ap.parse_args(argv)
    if args.cmd == "loadtest":  # `mediaserver --config FILE loadtest`: the load tester says what it needs
        return _loadtest([])
    if args.cmd == "sealing-key":
        print(Fernet.generate_key().decode())
        return 0
    if args.cmd in (None, "serve"):
        if args.cmd is None:
            args.port = args.host = None
        return _serve(args)
    return _token(args)


if __name__ == "__main__":
    sys.exit(main())
