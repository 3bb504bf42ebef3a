"""OpenAI's Images API (``/v1/images/generations``, ``/v1/images/edits``): what a
request must hold (as OpenAI refuses it), and the translation to and from Gemini's
``generateContent`` with image output, both ways:

- a ``/v1/images/*`` request on a Gemini image model becomes one ``generateContent``
  call per image asked (``n``) with ``responseModalities: ["TEXT", "IMAGE"]`` (the edit's
  images as ``inlineData`` parts, the size as ``imageConfig.aspectRatio``); the
  ``inlineData`` that comes back is the answer's ``b64_json``. A ``url`` answer is an
  http(s) URL the gateway serves, signed for the key and expiring (the image kept in the
  file store: ``gateway.features.batches.files.links``, through ``hooks.file_links``); a
  ``data:`` URL of the bytes only where no file store is registered;
- a Gemini client's ``generateContent`` asking for image output (``responseModalities``
  naming ``IMAGE``) on a route to an OpenAI image model becomes an images generation
  body (the prompt from the text parts), or, when its last turn carries images
  (``inlineData``: "add a hat to this"), an images edit form with those images; the
  answer's images come back as ``inlineData`` parts.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.codecs.openai_media import forms

RESPONSE_FORMATS = ("b64_json", "url")
MAX_N = 10
MAX_PROMPT_CHARS = 32_000  # gpt-image-1's limit (dall-e-3: 4000, dall-e-2: 1000)
# OpenAI size -> Gemini aspect ratio (the nearest Gemini offers)
ASPECT_RATIOS = {
    "256x256": "1:1",
    "512x512": "1:1",
    "1024x1024": "1:1",
    "1536x1024": "3:2",
    "1024x1536": "2:3",
    "1792x1024": "16:9",
    "1024x1792": "9:16",
}
MIME_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def _count(value: Any, name: str, most: int) -> int:
    if value is None:
        return 1
    if isinstance(value, str) and value.isdigit():  # a multipart field
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise InvalidRequest(f"{name} must be an integer from 1 to {most}", param=name)
    return value


def _prompt(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("prompt is required and must be a non-empty string", param="prompt")
    if len(value) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"prompt is longer than {MAX_PROMPT_CHARS} characters", param="prompt")
    return value


def _response_format(value: Any) -> str | None:
    if value is None:
        return None
    if value not in RESPONSE_FORMATS:
        raise InvalidRequest(
            f"response_format must be one of {', '.join(RESPONSE_FORMATS)}",
            param="response_format",
        )
    return str(value)


def check_generation(body: dict[str, Any]) -> int:
    """Refuse what OpenAI refuses in a generation body; the number of images asked."""
    _prompt(body.get("prompt"))
    _response_format(body.get("response_format"))
    for name in ("size", "quality", "style", "output_format", "background", "user"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InvalidRequest(f"{name} must be a string", param=name)
    return _count(body.get("n"), "n", MAX_N)


def check_edit(fields: dict[str, str], images: int, masks: int) -> int:
    """Refuse what OpenAI refuses in an edit form; the number of images asked."""
    _prompt(fields.get("prompt"))
    _response_format(fields.get("response_format"))
    if not images:
        raise InvalidRequest("image is required: one file part 'image' (or several 'image[]')",
                             param="image")  # fmt: skip
    if images > 16:
        raise InvalidRequest("at most 16 images", param="image")
    if masks > 1:
        raise InvalidRequest("at most one mask", param="mask")
    return _count(fields.get("n"), "n", MAX_N)


# --- OpenAI images -> Gemini generateContent ----------------------------------------------


def gemini_body(
    prompt: str, size: str | None, images: list[tuple[str, bytes]] | None = None
) -> dict[str, Any]:
    """One ``generateContent`` body asking for an image: the prompt, the edit's images
    (media type, bytes) as ``inlineData`` parts, the size as an aspect ratio."""
    parts: list[dict[str, Any]] = [{"text": prompt}]
    for media_type, data in images or []:
        encoded = base64.b64encode(data).decode("ascii")
        parts.append({"inlineData": {"mimeType": media_type or "image/png", "data": encoded}})
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    ratio = ASPECT_RATIOS.get(size or "")
    if ratio is not None:
        config["imageConfig"] = {"aspectRatio": ratio}
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


def gemini_images(data: Any) -> tuple[list[tuple[str, str]], str, tuple[int, int]]:
    """(media type, base64) of each image a ``generateContent`` answer holds, its text,
    and its (prompt, output) token counts. No image: ``UpstreamError`` saying why."""
    if not isinstance(data, dict):
        raise UpstreamError("Gemini answered with unexpected JSON", status=502)
    found: list[tuple[str, str]] = []
    texts: list[str] = []
    reason = ""
    for candidate in data.get("candidates") or []:
        reason = str(candidate.get("finishReason") or reason)
        for part in (candidate.get("content") or {}).get("parts") or []:
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict) and inline.get("data"):
                media = str(inline.get("mimeType") or inline.get("mime_type") or "image/png")
                found.append((media, str(inline["data"])))
            elif isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
    if not found:
        blocked = (data.get("promptFeedback") or {}).get("blockReason")
        why = blocked or reason or "no image in the answer"
        raise UpstreamError(f"the Gemini model returned no image ({why})", status=502)
    usage = data.get("usageMetadata") or {}
    counts = (int(usage.get("promptTokenCount") or 0), int(usage.get("candidatesTokenCount") or 0))
    return found, "".join(texts), counts


def images_answer(
    images: list[tuple[str, str]],
    response_format: str | None,
    usage: tuple[int, int],
    urls: list[str] | None = None,
) -> dict[str, Any]:
    """The Images API answer for images given as (media type, base64); ``urls``: where
    the gateway serves each (a ``url`` answer; None: ``data:`` URLs of the bytes)."""
    data: list[dict[str, Any]] = []
    for n, (media, encoded) in enumerate(images):
        if response_format == "url":
            data.append({"url": urls[n] if urls else f"data:{media};base64,{encoded}"})
        else:
            data.append({"b64_json": encoded})
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if images:
        answer["output_format"] = MIME_FORMATS.get(images[0][0], "png")
    prompt, output = usage
    answer["usage"] = {
        "input_tokens": prompt,
        "output_tokens": output,
        "total_tokens": prompt + output,
        "input_tokens_details": {"text_tokens": prompt, "image_tokens": 0},
    }
    return answer


# --- a Gemini client asking for image output, on an OpenAI image model --------------------


def asks_for_image(body: dict[str, Any]) -> bool:
    config = body.get("generationConfig") or body.get("generation_config") or {}
    if not isinstance(config, dict):
        return False
    modalities = config.get("responseModalities") or config.get("response_modalities") or []
    return isinstance(modalities, list) and any(
        isinstance(m, str) and m.upper() == "IMAGE" for m in modalities
    )


def _last_turn(body: dict[str, Any]) -> dict[str, Any]:
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise InvalidRequest("contents is required", param="contents")
    turn = contents[-1]
    if not isinstance(turn, dict):
        raise InvalidRequest("contents must hold Content objects", param="contents")
    return turn


def _base64(text: str) -> bytes:
    """Standard or URL-safe base64 (``google-genai`` sends the latter, as pydantic
    writes bytes), padded or not; b"" when it is neither."""
    text = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return b""


def gemini_input_images(body: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The images (media type, bytes) of a Gemini request's last turn: what an OpenAI
    image model edits (``/v1/images/edits``). Images by URI (``fileData``) are refused:
    the Images API takes the files themselves."""
    found: list[tuple[str, bytes]] = []
    for i, part in enumerate(_last_turn(body).get("parts") or []):
        if not isinstance(part, dict):
            continue
        if part.get("fileData") or part.get("file_data"):
            raise InvalidRequest(
                "images by URI (fileData) cannot be edited by this route's OpenAI image "
                "model: send the image inline (inlineData)",
                param=f"contents.parts[{i}].fileData",
            )
        inline = part.get("inlineData") or part.get("inline_data")
        if not inline:
            continue
        data = inline.get("data") if isinstance(inline, dict) else None
        decoded = _base64(data) if isinstance(data, str) else b""
        if not decoded:
            raise InvalidRequest(
                "inlineData.data must be base64 image bytes",
                param=f"contents.parts[{i}].inlineData.data",
            )
        kind = inline.get("mimeType") or inline.get("mime_type") or "image/png"
        if kind not in MIME_FORMATS:
            raise InvalidRequest(
                f"images to edit must be PNG, JPEG or WebP, not {kind}",
                param=f"contents.parts[{i}].inlineData.mimeType",
            )
        found.append((kind, decoded))
    if len(found) > 16:
        raise InvalidRequest("at most 16 images", param="contents")
    return found


def edit_form(
    body: dict[str, Any], pictures: list[tuple[str, bytes]], boundary: str
) -> tuple[bytes, str]:
    """An images edit form (its bytes and content type) from a generation ``body`` and
    the images to edit: one ``image`` part, or ``image[]`` parts for several (dall-e-2
    takes only the former, the gpt-image models both)."""
    fields = [(name, str(body[name])) for name in ("model", "prompt", "n", "size",
              "quality", "response_format", "user") if body.get(name) is not None]  # fmt: skip
    field = "image" if len(pictures) == 1 else "image[]"
    files = [
        (field, f"image-{i + 1}.{MIME_FORMATS[kind]}", kind, data)
        for i, (kind, data) in enumerate(pictures)
    ]
    return forms.encode(fields, files, boundary), f"multipart/form-data; boundary={boundary}"


def generation_from_gemini(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The images generation body for a Gemini ``generateContent`` asking for an
    image: the prompt is the text of the last user turn (with the system instruction
    before it). Its images, if any, are ``gemini_input_images``'s (an edit)."""
    texts: list[str] = []
    for part in _last_turn(body).get("parts") or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    if isinstance(system, dict):
        texts[:0] = [p["text"] for p in system.get("parts") or [] if isinstance(p, dict)
                     and isinstance(p.get("text"), str)]  # fmt: skip
    prompt = "\n\n".join(t for t in texts if t.strip())
    config = body.get("generationConfig") or body.get("generation_config") or {}
    out: dict[str, Any] = {"model": model, "prompt": _prompt(prompt)}
    count = config.get("candidateCount") or config.get("candidate_count")
    if count is not None:
        out["n"] = _count(count, "candidateCount", MAX_N)
    image_config = config.get("imageConfig") or config.get("image_config") or {}
    ratio = image_config.get("aspectRatio") or image_config.get("aspect_ratio")
    if ratio:
        sizes = {"1:1": "1024x1024", "3:2": "1536x1024", "2:3": "1024x1536",
                 "16:9": "1536x1024", "9:16": "1024x1536", "4:3": "1536x1024",
                 "3:4": "1024x1536"}  # fmt: skip
        if ratio in sizes:
            out["size"] = sizes[ratio]
    return out


def gemini_answer(data: Any, model: str) -> dict[str, Any]:
    """A ``generateContent`` answer holding the Images API answer's images as
    ``inlineData`` parts (a ``url`` the upstream gave instead is a ``fileData`` part)."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise UpstreamError("upstream images answer without data", status=502)
    media = f"image/{data.get('output_format') or 'png'}"
    parts: list[dict[str, Any]] = []
    for item in data["data"]:
        if not isinstance(item, dict):
            continue
        if item.get("b64_json"):
            parts.append({"inlineData": {"mimeType": media, "data": item["b64_json"]}})
        elif item.get("url"):
            parts.append({"fileData": {"mimeType": media, "fileUri": item["url"]}})
        if item.get("revised_prompt"):
            parts.append({"text": item["revised_prompt"]})
    usage = data.get("usage") or {}
    prompt, output = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "modelVersion": model,
    }
