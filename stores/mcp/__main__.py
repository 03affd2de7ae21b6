"""python -m stores.mcp NAME --db PATH: start one of the MCP servers (see stores/mcp/cli.py)."""
import sys

from stores.mcp.cli import main

sys.exit(main())
