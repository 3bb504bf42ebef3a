"""MCP: registered MCP servers, their client sessions, the aggregated /mcp server and the hosted-tool loop."""
