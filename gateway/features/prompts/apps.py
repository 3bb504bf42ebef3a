"""The prompt registry as a unit (``gateway.web.units``): the snapshot part and the body
rewrite (``plugin.py``), its rules (``rules.py``), its pages and ``/api`` router."""

from gateway.web.units import Unit


class PromptsConfig(Unit):
    name = "gateway.features.prompts"
    label = "prompts"
    api_paths = ("prompts",)  # /api/<each>/...
