"""The media feature plugs into the pipeline through ``gateway.base.hooks``: a job for
each media endpoint (the multipart ones known without loading the jobs) and the Gemini
image case chosen by the route."""

from __future__ import annotations

from gateway.base import hooks
from gateway.core import service
from gateway.features.media import jobs, plugin


def test_every_media_job_is_registered_under_its_endpoint() -> None:
    assert set(plugin.ENDPOINTS) == set(jobs.MEDIA_JOBS)
    for endpoint in plugin.ENDPOINTS:
        assert hooks.endpoint_jobs[endpoint].endpoint == endpoint
    assert plugin.gemini_images in hooks.route_jobs


def test_the_multipart_endpoints_are_the_form_jobs() -> None:
    forms = {name for name, job in jobs.MEDIA_JOBS.items() if issubclass(job, jobs._Form)}
    assert forms == plugin.MULTIPART
    assert [e for e in plugin.ENDPOINTS if service.multipart(e)] == sorted(
        forms, key=plugin.ENDPOINTS.index
    )
    assert not service.multipart("chat") and not service.multipart("nothing")


def test_registering_again_changes_nothing() -> None:
    before = (hooks.endpoint_jobs.items(), list(hooks.route_jobs))
    plugin.register()
    assert (hooks.endpoint_jobs.items(), list(hooks.route_jobs)) == before
