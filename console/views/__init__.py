"""Console views, one module per page (function views, staff only)."""
