"""What Google's Gemini models refuse per model, for the test mocks (``mock_gemini``:
generateContent on the Gemini API and Vertex AI; ``mock_gemini_interactions``: the
Interactions API): a mock that accepts everything lets a gateway forward a parameter the
real service answers 400 to, and no test notices.

Written from the vendor's model pages, not from the gateway's catalog, so a wrong or
missing declaration fails a test instead of agreeing with itself: the Gemini 3.7 and 3.8
Flash models fix their sampling, and ``temperature``, ``top_p`` and ``top_k`` (in any
spelling the API takes: ``topP``, ``topK``) are each a 400 INVALID_ARGUMENT on them,
even at default values. Other models take them.
"""

from __future__ import annotations

import re
from typing import Any

FIXED_SAMPLING = re.compile(r"^(models/)?gemini-3\.[78]-flash\b")
SAMPLING = ("temperature", "top_p", "topP", "top_k", "topK")


def refusal(model: str, config: Any) -> str | None:
    """Why the service answers 400 to a request for ``model`` whose generation config
    is ``config`` (``generationConfig`` or ``generation_config``), or None."""
    if not FIXED_SAMPLING.search(model) or not isinstance(config, dict):
        return None
    for name in SAMPLING:
        if name in config:
            return f"{name} is not supported for model {model.removeprefix('models/')}."
    return None
