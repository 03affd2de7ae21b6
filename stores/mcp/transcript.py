"""python -m stores.mcp.transcript --db PATH: a short MCP session, as a client sees it (the README's transcript).

Starts the metrics and incidents servers over stdio with the SDK's own client, lists their tools, and
asks for a model's health, a bad model, and the newest run's open incident (or its latest) in full.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from simulator.cli import OneLineParser


def _show(value, width: int) -> str:
    """An answer as compact JSON, cut at `width` characters (0: never), wrapped at 110 columns."""
    text = json.dumps(value)
    text = text if not width or len(text) <= width else text[:width - 4] + " ..."
    return textwrap.fill(text, 110, subsequent_indent="  ", break_on_hyphens=False)


async def _session(server: str, db: Path, calls: list, answers: dict, width: int) -> None:
    """One server, one session: list the tools, make the calls, print each request and its answer."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "stores.mcp", server, "--db", str(db)])
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write):
            async with ClientSession(read, write) as session:
                info = await session.initialize()
                print(f"# {server}: started `python -m stores.mcp {server} --db {db}` -> {info.server_info.name}")
                tools = (await session.list_tools()).tools
                print(f"> tools/list\n< {', '.join(t.name for t in tools)}")
                for name, arguments in calls:
                    if callable(arguments):  # arguments taken from an earlier answer
                        arguments = arguments(answers)
                    result = await session.call_tool(name, arguments)
                    text = result.content[0].text
                    print(f"> tools/call {name} {json.dumps(arguments)}")
                    if result.is_error:
                        print(f"< error: {text}")
                    else:
                        answers[name] = json.loads(text)
                        print(f"< {_show(answers[name], width)}")


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog="python -m stores.mcp.transcript", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, required=True, help="an mlmon.db")
    p.add_argument("--model", default="pneumonia_classifier_v1", help="the model to ask about")
    p.add_argument("--width", type=int, default=0, help="cut each answer to this many characters (default 0: never)")
    args = p.parse_args(argv)

    def newest_incident(answers: dict) -> dict:
        incidents = answers.get("list_incidents", {}).get("incidents", [])
        return {"incident_id": incidents[0]["id"] if incidents else "none"}

    answers: dict[str, dict] = {}
    anyio.run(_session, "metrics", args.db, [
        ("get_model_health", {"model_id": args.model}),
        ("get_model_health", {"model_id": "no_such_model"}),
    ], answers, args.width)
    anyio.run(_session, "incidents", args.db, [
        ("list_incidents", {"model_id": args.model, "limit": 1}),
        ("get_incident", newest_incident),
    ], answers, args.width)
    return 0


if __name__ == "__main__":
    sys.exit(main())
