"""What the media feature plugs into the pipeline (``gateway.base.hooks``), registered
from ``GatewayConfig.ready``: a job for each media endpoint (``endpoint_jobs``) and the
Gemini image case, a job chosen by the route (``route_jobs``). Light on purpose:
``ready`` runs in every management command, so the jobs (``gateway.features.media.jobs``) are
imported when a request first needs them, in a serving process."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks

# the media endpoints (gateway.features.media.jobs.MEDIA_JOBS), and those whose body is
# multipart/form-data, read by its job (gateway.codecs.openai_media.forms), not as JSON
ENDPOINTS = (
    "image_generation",
    "image_edit",
    "transcription",
    "translation",
    "speech",
    "gemini_images",
)
MULTIPART = frozenset({"image_edit", "transcription", "translation"})


class MediaEndpoint:
    """The job of one media endpoint (``hooks.endpoint_jobs``), called as its class is."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.multipart = endpoint in MULTIPART

    def __call__(self, call: Any, key: Any, body: dict[str, Any], headers: Any) -> Any:
        from gateway.features.media import jobs

        return jobs.MEDIA_JOBS[self.endpoint](call, key, body, headers)

    def __repr__(self) -> str:
        return f"<media endpoint {self.endpoint}>"


def gemini_images(job: Any, route: Any) -> Any:
    """``hooks.route_jobs``: a Gemini client's request for image output runs a media job
    (``gateway.features.media.jobs.for_gemini_route``); any other the job it is (answered here,
    so a request of another dialect never reaches the media module)."""
    if job.call.dialect != "gemini":
        return job
    from gateway.features.media import jobs

    return jobs.for_gemini_route(job, route)


def register() -> None:
    for endpoint in ENDPOINTS:
        if endpoint not in hooks.endpoint_jobs:  # ready() may run again (tests)
            hooks.endpoint_jobs.register(endpoint, MediaEndpoint(endpoint))
    hooks.route_jobs.register(gemini_images)
