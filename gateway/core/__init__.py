"""The core layer: the request pipeline and what it keeps between requests (see
docs/architecture.md). Modules move here from ``gateway/`` as the layout split goes on."""
