"""Hosted MCP tools on any upstream: the Responses API's ``mcp`` tool and Anthropic's
MCP connector (``mcp_servers`` + ``mcp_toolset``), run by the gateway.

``servers`` reaches the attached servers (the ``mcp`` SDK's streamable-HTTP client, or
the process pool for registered names); ``loop`` lists their tools, offers them to the
model as function tools, runs the model's calls and feeds the results back until the
model answers, an approval is needed or the per-request call limit is reached; its
steps are canonical ``McpItem``s that the client codec renders in its own shapes.
"""

from gateway.features.mcp.hosted.loop import Loop, applies, attach, events

__all__ = ["Loop", "applies", "attach", "events"]
