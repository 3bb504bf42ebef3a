"""What passthrough plugs into the pipeline (``gateway.base.hooks``), registered from
``GatewayConfig.ready``: the job of the ``passthrough`` endpoint (``endpoint_jobs``; its
body is read by the job as it came, never parsed as JSON by the pipeline) and the model
catalog kept in the snapshot (``snapshot_parts``: a passthrough answer of a model no
deployment names is priced from it without reading a file on the request path). Light
on purpose: ``ready`` runs in every management command, so the job module (and the
request stack it imports) loads when a request first needs it."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks
from gateway.catalog import store

ENDPOINT = "passthrough"
CATALOG_PART = "passthrough_catalog"  # the name pricing.PART reads


class PassthroughEndpoint:
    """The job of the ``passthrough`` endpoint (``hooks.endpoint_jobs``)."""

    multipart = True  # not JSON for the pipeline: the job reads the body as it came

    def __call__(self, call: Any, key: Any, body: dict[str, Any], headers: Any) -> Any:
        # the pipeline's own modules come with it: imported on a serving process's first
        # passthrough request, never by a management command's ready()
        from gateway.features.passthrough.job import PassthroughJob

        return PassthroughJob(call, key, body, headers)

    def __repr__(self) -> str:
        return "<passthrough endpoint>"


_ENDPOINT = PassthroughEndpoint()


def register() -> None:
    hooks.endpoint_jobs.register(ENDPOINT, _ENDPOINT)
    hooks.snapshot_parts.register(CATALOG_PART, store.load)
