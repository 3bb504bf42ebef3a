"""A plugin module whose import fails (tests/gateway/base/test_plugins.py)."""

raise RuntimeError("the plugin's own bug at import")
