"""Operating the registry: the one implementation of admin actions behind console and API, LiteLLM config import and export, cloud credential checks and the ``switchyard`` command."""
