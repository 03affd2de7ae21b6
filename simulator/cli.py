"""Command-line conventions shared by mlmon's tools: one-line errors and their exit codes.

Here because every command (simulator.export, rl, graph.run) sits on or above the simulator; the MCP
servers (stores/mcp/) are the one exception, named in pyproject.toml's layers contract.
"""
from __future__ import annotations

import argparse
import textwrap

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad input in one line (no usage dump) and exits with 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see --help)\n")


def wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, width=96, initial_indent=indent, subsequent_indent=indent + "  ")
