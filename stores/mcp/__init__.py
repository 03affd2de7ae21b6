"""mlmon's stores served over MCP: three servers (predictions, metrics, incidents) over one mlmon.db, read-only
unless started with --allow-writes. Start one with `mlmon-mcp NAME --db PATH` (see stores/mcp/cli.py).
"""
