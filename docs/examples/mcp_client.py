"""`memfs mcp` from the official `mcp` client library: list the tools, read a file, write it with
its hash, try a stale write and a write to a read-only store. docs/api.md runs it:

    python mcp_client.py [DATABASE]      # default: $MEMFS_DB, else memfs's own default
"""

import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

DB = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MEMFS_DB") or os.popen("memfs path").read().strip()
# MCP clients start servers with a minimal environment: give --db rather than relying on $MEMFS_DB
SERVER = StdioServerParameters(command="memfs", args=["--db", DB, "mcp", "--store", "team-sre=rw",
                                                      "--store", "org=ro", "--agent", "claude-desktop"])


async def main():
    async with stdio_client(SERVER) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            print([t.name for t in (await s.list_tools()).tools])
            got = json.loads((await s.call_tool("read", {"store": "team-sre", "path": "/runbooks/deploy.md"}))
                             .content[0].text)
            new = got["content"] + "- then watch the error rate for ten minutes\n"
            res = await s.call_tool("write", {"store": "team-sre", "path": "/runbooks/deploy.md", "content": new,
                                              "expected_sha256": got["sha256"]})
            print(res.content[0].text)
            # the same hash again is stale now: refused, and the error names the current hash
            res = await s.call_tool("write", {"store": "team-sre", "path": "/runbooks/deploy.md", "content": "x\n",
                                              "expected_sha256": got["sha256"]})
            print(res.is_error, res.content[0].text)
            res = await s.call_tool("write", {"store": "org", "path": "/policy.md", "content": "x\n"})
            print(res.is_error, res.content[0].text)


anyio.run(main)
