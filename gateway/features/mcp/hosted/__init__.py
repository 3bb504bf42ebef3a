"""Hosted MCP tools on any upstream: the Responses API's ``mcp`` tool and Anthropic's
MCP connector (``mcp_servers`` + ``mcp_toolset``), run by the gateway.

``servers`` reaches the attached servers (the ``mcp`` SDK's streamable-HTTP client, or
the process pool for registered names); ``loop`` is their part of the gateway's tool
loop (``gateway.core.tool_runner``): it lists their tools, offers them to the model as
function tools and runs the model's calls until the model answers, an approval is
needed or the per-request call limit is reached; its steps are canonical ``McpItem``s
that the client codec renders in its own shapes.
"""

from gateway.features.mcp.hosted.loop import Loop, McpTools, applies, attach, events

__all__ = ["Loop", "McpTools", "applies", "attach", "events"]
