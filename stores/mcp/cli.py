"""mlmon-mcp / python -m stores.mcp: start the predictions, metrics or incidents MCP server over an mlmon.db.

stdio by default (for an MCP client that starts the server itself); --http PORT serves streamable HTTP
on 127.0.0.1 only. The file must be an existing mlmon store; it is opened read-only unless
--allow-writes, which also adds the writing tools. stdout carries only the protocol; logs go to stderr.

examples:
  mlmon-mcp metrics --db simulation_results/mlmon.db
  mlmon-mcp incidents --db out/mlmon.db --http 8765
  python -m stores.mcp predictions --db out/mlmon.db --allow-writes
"""
from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

from simulator.cli import EXIT_BAD_INPUT, EXIT_FAILED, OneLineParser
from stores import StoreError, check_store
from stores.mcp import incidents, metrics, predictions
from stores.mcp.common import StoreFile

SERVERS = {"predictions": predictions.build, "metrics": metrics.build, "incidents": incidents.build}
HOST = "127.0.0.1"  # never another interface: the servers have no authentication

log = logging.getLogger("mlmon.mcp")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(prog="mlmon-mcp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("server", choices=list(SERVERS), help="which store to serve")
    p.add_argument("--db", type=Path, required=True, help="the mlmon.db of an output folder")
    p.add_argument("--allow-writes", action="store_true",
                   help="open the file read-write and add the writing tools (store_*, create_*)")
    p.add_argument("--http", type=int, metavar="PORT", help=f"serve streamable HTTP on {HOST}:PORT/mcp instead of stdio")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="stderr log level (default WARNING; INFO also logs each rejected tool call)")
    args = p.parse_args(argv)
    if args.http is not None and not 1 <= args.http <= 65535:
        p.error(f"--http must be a port number from 1 to 65535, not {args.http}")
    return args


def bind(port: int) -> socket.socket:
    """The listening socket, bound before serving so that a taken port is a one-line error, not a log."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {HOST}:{port} ({exc.strerror or exc})") from None
    return sock


def serve_http(server, sock: socket.socket, log_level: str) -> None:
    import anyio  # imported here: only HTTP needs them, and stdio servers start faster without uvicorn
    import uvicorn

    app = server.streamable_http_app(host=HOST)
    # log_config=None: uvicorn's own config would send access lines to stdout; ours all go to stderr.
    config = uvicorn.Config(app, log_config=None, log_level=log_level.lower(), access_log=False)
    anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Configured before the SDK's server is built, so its own logging setup finds ours and keeps it.
    logging.basicConfig(stream=sys.stderr, level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        check_store(args.db)
    except StoreError as exc:
        print(f"mlmon-mcp: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    server = SERVERS[args.server](StoreFile(args.db, writable=args.allow_writes), allow_writes=args.allow_writes)
    log.info("serving %s from %s (%s) over %s", args.server, args.db, "read-write" if args.allow_writes else "read-only",
             f"http://{HOST}:{args.http}/mcp" if args.http else "stdio")
    try:
        if args.http:
            sock = bind(args.http)
            print(f"mlmon-mcp: {args.server} server on http://{HOST}:{args.http}/mcp (Ctrl+C stops it)", file=sys.stderr)
            serve_http(server, sock, args.log_level)
        else:
            server.run()
    except OSError as exc:
        print(f"mlmon-mcp: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
