"""OpenAI's media endpoints in the pipeline (``gateway.core.service._serve``), one
``Job`` each, answered through ``routing`` like any other (registered into the pipeline
by ``gateway.features.media.plugin``: core does not import this module):

- ``POST /v1/images/generations`` (JSON) and ``/v1/images/edits`` (multipart) to
  OpenAI-compatible and Azure upstreams (the body passed through, the model renamed)
  and to Gemini image models (``generateContent`` with image output, translated by
  ``gateway.codecs.openai_media.images``);
- ``POST /v1/audio/transcriptions`` and ``/translations`` (multipart; a transcription
  may stream its ``transcript.text.*`` events) and ``/v1/audio/speech`` (JSON in, audio
  or ``speech.audio.*`` events out, relayed chunk by chunk) to OpenAI-compatible
  upstreams;
- a Gemini client's ``generateContent`` asking for image output, on a route whose
  deployments generate images through OpenAI's API (``GeminiImages``), Gemini's own
  (``GeminiNativeImages``) or both (``GeminiMixedImages``: the form of the deployment
  routing picks).

A route serves a media endpoint when its deployments do (``catalog.media.mode_of``: the
deployment's ``mode`` param, the media price table, the catalog, the model's name); a
chat route asked for images is a 400 before anything is admitted. Keys' route
permissions, rpm/tpm and budgets apply as for chat (``_serve``). The journal gets one
row per request whose bodies are summaries: the prompt and fields as the body-logging
setting allows, each image or audio file's size, never its bytes. Cost: the token usage
the answer reports at the deployment's prices (or the table's), plus per image, per
second of audio or per character where the model is priced that way.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import orjson

from gateway.base import db_work, hooks
from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.errors import GatewayError, InvalidRequest, UpstreamError
from gateway.base.types import ChatRequest, Usage
from gateway.catalog import media as media_prices
from gateway.codecs import CODECS
from gateway.codecs.openai_media import audio, forms, images
from gateway.core.call import Reply, StreamCut, StreamReply
from gateway.core.jobs import RoutedJob, begin_attempt
from gateway.core.pumps import close_quietly
from gateway.providers import kinds
from gateway.providers.base import Exchange, MediaPost, Provider
from gateway.providers.passthrough_body import for_deployment
from gateway.routing import routing
from gateway.telemetry import tags

OPENAI = CODECS["openai"]


def mode_of(deployment: DeploymentEntry) -> str:
    catalog = deployment.catalog
    return media_prices.mode_of(
        deployment.model, deployment.params or {}, None if catalog is None else catalog.mode
    )


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


class _Media(RoutedJob):
    """What every media endpoint shares: the mode its deployments must serve, the
    refusal of a route that does not, the journal's summaries, a reply whose content
    type is the upstream's, and a stream relayed as bytes."""

    mode = ""
    what = ""  # the endpoint, as a refusal names it
    path = ""  # the upstream's path under its API base
    gemini = False  # Gemini image models may serve it too
    content_type = "application/json"  # the reply's, unless the upstream says otherwise
    usage: Usage
    units = Decimal(0)  # what is priced per unit (images, seconds, characters)
    events = False  # the streamed answer is server-sent events (not audio bytes)

    def max_output(self) -> int | None:
        return None

    def model_name(self) -> Any:
        return self.body.get("model")

    def prompt_text(self) -> str:
        return str(self.body.get("prompt") or self.body.get("input") or "")

    def logged(self) -> bytes:
        """The request as the journal keeps it."""
        return self.call.raw

    async def prepare(self, route: RouteEntry) -> None:
        self.public = str(self.model_name() or route.name)
        self.estimate = max(1, len(self.prompt_text()) // 4)
        serving = tuple(d for d in route.deployments if mode_of(d) == self.mode)
        if not serving:
            modes = sorted({mode_of(d) for d in route.deployments}) or ["nothing"]
            raise InvalidRequest(
                f"model {route.name!r} cannot serve {self.what}: its deployments serve "
                f"{', '.join(modes)}, not {self.mode} (declare a deployment's mode in its "
                f'params, e.g. {{"mode": "{self.mode}"}}, when its model name does not say)',
                param="model",
            )
        self.serving = dataclasses.replace(route, deployments=serving)
        self.call.logged_request = self.logged()
        self.call.logged_upstream = b""  # the upstream body is the caller's: not again

    def plan(self, route: RouteEntry) -> RouteEntry:
        return self.serving if route.name == self.serving.name else route

    def public_model(self) -> str:
        return self.public

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        adapter = begin_attempt(self.call, route, deployment)
        self.exchange().capture_limit = 0  # the answer (images, audio) stays out of the journal
        if mode_of(deployment) != self.mode:
            raise InvalidRequest(
                f"model {route.name!r} cannot serve {self.what}: deployment "
                f"{deployment.label} serves {mode_of(deployment)}",
                param="model",
            )
        if adapter.speaks is not OPENAI and not (self.gemini and "images" in adapter.also_serves):
            raise InvalidRequest(
                f"model {route.name!r} cannot serve {self.what}: its upstream provider "
                f"({adapter.provider.kind}) does not offer it",
                param="model",
            )
        return adapter

    def exchange(self) -> Exchange:
        """The upstream exchange of the attempt ``begin`` started."""
        exchange = self.call.exchange
        assert exchange is not None
        return exchange

    # -- pricing -----------------------------------------------------------------------
    def price(self, deployment: DeploymentEntry, usage: Usage) -> Decimal:
        """What the attempt costs beyond the deployment's own token prices."""
        table = media_prices.price_of(deployment.model)
        extra = Decimal(0)
        if table is not None and not (deployment.input_price or deployment.output_price):
            million = Decimal(1_000_000)
            extra += (
                usage.input_tokens * table.input + usage.output_tokens * table.output
            ) / million
        return extra + self.unit_cost(deployment, table, usage)

    def unit_cost(
        self, deployment: DeploymentEntry, table: media_prices.MediaPrice | None, usage: Usage
    ) -> Decimal:
        return Decimal(0)

    # -- answering ---------------------------------------------------------------------
    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        raise NotImplementedError

    def summary(self, payload: bytes, content_type: str) -> bytes:
        """The answer as the journal keeps it."""
        return payload

    async def respond_whole(self, route: RouteEntry) -> Reply:
        call = self.call

        async def attempt(
            route: RouteEntry, deployment: DeploymentEntry
        ) -> tuple[bytes, Usage, str]:
            adapter = self.begin(route, deployment)
            payload, usage, kind = await self.answer(adapter, route, deployment)
            call.extra_cost = self.price(deployment, usage)
            return payload, usage, kind

        payload, usage, kind = await self.routed(route, attempt)
        call.capture_outbound(self.summary(payload, kind))
        call.finish(status=200, usage=usage, finish_reason="stop")
        return Reply(200, payload, call.headers(kind.encode("latin-1")))

    async def respond_streamed(self, route: RouteEntry) -> StreamReply:
        call = self.call

        async def open_stream(
            route: RouteEntry, deployment: DeploymentEntry
        ) -> tuple[str, bytes, AsyncIterator[bytes]]:
            adapter = self.begin(route, deployment)
            kind, chunks = await self.open_media(adapter, deployment)
            iterator = aiter(chunks)
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                first = b""
            return kind, first, iterator

        kind, first, iterator = await self.routed(route, open_stream, stream=True)
        call.release_deployment = routing.hold(call.deployment.id)  # type: ignore[union-attr]
        kind = kind or self.content_type
        self.events = kind.startswith("text/event-stream")
        chunks = self.relay(first, iterator)
        return StreamReply(200, call.headers(kind.encode("latin-1")), chunks, keepalive=self.events)

    async def open_media(
        self, adapter: Provider, deployment: DeploymentEntry
    ) -> tuple[str, AsyncIterator[bytes]]:
        raise NotImplementedError

    def watch(self, chunk: bytes) -> None:
        """A streamed chunk on its way out (usage in the final events)."""

    async def relay(self, first: bytes, iterator: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The upstream's bytes as they arrive, one write each; the journal row when the
        stream ends, is cut by the upstream (502) or left by the client (499)."""
        call = self.call
        sent = 0
        error: GatewayError | None = None
        disconnected = True
        try:
            chunk = first
            while True:
                if chunk:
                    if call.first_token is None:
                        call.first_token = time.perf_counter()
                    self.watch(chunk)
                    sent += len(chunk)
                    yield chunk
                try:
                    chunk = await anext(iterator)
                except StopAsyncIteration:
                    break
                except GatewayError as exc:  # the upstream broke off
                    error = exc
                    break
            if error is not None and self.events:  # events end with an error event
                yield call.client.render_stream_error(error)
            disconnected = False
        finally:
            await close_quietly(iterator)  # a finished upstream response too
            deployment = call.deployment
            if deployment is not None:
                call.extra_cost = self.price(deployment, self.usage)
            call.capture_outbound(self.stream_summary(sent))
            if error is not None:
                call.finish(status=error.status, usage=self.usage, error=error)
            elif disconnected:
                call.finish(status=499, usage=self.usage, disconnected=True,
                            error=GatewayError("client disconnected"))  # fmt: skip
            else:
                call.finish(status=200, usage=self.usage, finish_reason="stop")
        if error is not None and not self.events:  # audio bytes: the download must fail
            raise StreamCut(str(error))

    def stream_summary(self, sent: int) -> bytes:
        return orjson.dumps({"streamed_bytes": sent})


def _base_url(headers: Mapping[str, str]) -> str:
    """The gateway's own address as the caller reached it (behind a proxy: what the
    proxy says it was)."""
    host = headers.get("x-forwarded-host") or headers.get("host") or "localhost"
    scheme = headers.get("x-forwarded-proto") or "http"
    return f"{scheme.split(',')[0].strip()}://{host.split(',')[0].strip()}"


def _json_answer(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError("upstream answered with invalid JSON", status=502) from None
    if not isinstance(data, dict):
        raise UpstreamError("upstream answered with unexpected JSON", status=502)
    return data


# --- images -------------------------------------------------------------------------------


class _Images(_Media):
    mode = media_prices.IMAGE
    gemini = True
    count = 1

    def image_usage(self, data: dict[str, Any]) -> Usage:
        reported = data.get("usage") or {}
        images_out = data.get("data")
        self.units = Decimal(len(images_out) if isinstance(images_out, list) else 0)
        return Usage(
            input_tokens=int(reported.get("input_tokens") or 0),
            output_tokens=int(reported.get("output_tokens") or 0),
        )

    def unit_cost(
        self, deployment: DeploymentEntry, table: media_prices.MediaPrice | None, usage: Usage
    ) -> Decimal:
        own = _decimal((deployment.params or {}).get("price_per_image"))
        each = own if own is not None else media_prices.image_price(
            table, self.option("size"), self.option("quality")
        )  # fmt: skip
        return Decimal(0) if each is None else each * self.units

    def option(self, name: str) -> str | None:
        value = self.body.get(name)
        return value if isinstance(value, str) else None

    def summary(self, payload: bytes, content_type: str) -> bytes:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return b""
        items = data.get("data") if isinstance(data, dict) else None
        shown: dict[str, Any] = {k: v for k, v in data.items() if k != "data"}
        shown["images"] = [
            {"b64_json_chars": len(i["b64_json"])} if i.get("b64_json")
            else {"url_chars": len(i.get("url") or "")}
            for i in items or [] if isinstance(i, dict)
        ]  # fmt: skip
        return orjson.dumps(shown)

    async def from_gemini(
        self,
        adapter: Provider,
        deployment: DeploymentEntry,
        inputs: list[tuple[str, bytes]] | None,
    ) -> dict[str, Any]:
        """``n`` ``generateContent`` calls (a Gemini image model makes one image a call),
        made together; the Images API answer."""
        exchange = self.exchange()
        body = images.gemini_body(str(self.option("prompt")), self.option("size"), inputs)
        answers = await asyncio.gather(
            *(adapter.generate_content(body, deployment, exchange) for _ in range(self.count)),
            return_exceptions=True,  # every call ends before the first failure is raised
        )
        found: list[tuple[str, str]] = []
        prompt = output = 0
        for data in answers:
            if isinstance(data, BaseException):
                raise data
            got, _text, (used_in, used_out) = images.gemini_images(data)
            found += got
            prompt, output = prompt + used_in, output + used_out
        wanted = self.option("response_format")
        urls = await self.links(found) if wanted == "url" else None
        return images.images_answer(found, wanted, (prompt, output), urls)

    async def links(self, found: list[tuple[str, str]]) -> list[str] | None:
        """An http(s) URL the gateway serves for each image (``hooks.file_links``: kept
        for the key, signed, expiring); None when no file store is registered."""
        keeper = next(iter(hooks.file_links), None)
        if keeper is None:
            return None
        base = _base_url(self.headers)
        return [
            await db_work.arun(keeper, self.key, media, base64.b64decode(encoded), base)
            for media, encoded in found
        ]


class _ImageGeneration(_Images):
    """``POST /v1/images/generations``."""

    what = "image generation"
    path = "images/generations"

    def check(self) -> None:
        self.count = images.check_generation(self.body)

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        if adapter.speaks is OPENAI:
            content = orjson.dumps(for_deployment(self.body, deployment))
            post = MediaPost(self.path, content, "application/json")
            raw, _kind = await adapter.media(post, deployment, self.exchange())
            data = _json_answer(raw)
        else:
            data = await self.from_gemini(adapter, deployment, None)
            raw = orjson.dumps(data)
        self.usage = self.image_usage(data)
        return raw, self.usage, "application/json"


class _Form(_Media):
    """A multipart endpoint: the body parsed once (``forms``), sent upstream as it
    came with the model renamed."""

    form: forms.Form
    replaced: dict[str, str] = {}  # noqa: RUF012  (text fields a guardrail rewrote; never mutated)

    def parse_form(self) -> forms.Form:
        kind = self.headers.get("content-type", "")
        self.form = forms.parse(self.call.raw, kind)
        self.body = self.form.fields()  # what the pipeline reads (model, prompt)
        self.call.logged_request = self.logged()  # a refused form is logged so too
        return self.form

    def rewritten(self, carry: Any) -> None:
        """A guardrail rewrote text fields of ``body``: they replace the form's."""
        self.replaced = {
            name: value
            for name, value in self.body.items()
            if self.form.field(name) is not None and value != self.form.field(name)
        }
        self.call.logged_request = self.logged()

    def sent(self, deployment: DeploymentEntry) -> forms.Pieces:
        """The form as the upstream gets it: the deployment's model, rewritten fields."""
        return forms.with_values(self.form, {**self.replaced, "model": deployment.model})

    def option(self, name: str) -> str | None:
        return self.body.get(name)

    def logged(self) -> bytes:
        return orjson.dumps({**self.form.summary(), **self.replaced})

    async def post_form(self, adapter: Provider, deployment: DeploymentEntry) -> tuple[bytes, str]:
        content = self.sent(deployment)
        post = MediaPost(self.path, content, self.form.content_type)
        return await adapter.media(post, deployment, self.exchange())


class _ImageEdit(_Images, _Form):
    """``POST /v1/images/edits`` (multipart: ``image`` or ``image[]``, ``mask``,
    ``prompt``, ``n``, ``size``, ``response_format``, ...)."""

    what = "image edits"
    path = "images/edits"

    def check(self) -> None:
        form = self.parse_form()
        pictures = form.files("image", "image[]")
        self.count = images.check_edit(self.body, len(pictures), len(form.files("mask")))

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        if adapter.speaks is OPENAI:
            raw, _kind = await self.post_form(adapter, deployment)
            data = _json_answer(raw)
        else:
            if self.form.files("mask"):
                raise InvalidRequest(
                    "Gemini image models take no mask: describe the change in the prompt",
                    param="mask",
                )
            inputs = [(p.content_type, bytes(p.data)) for p in self.form.files("image", "image[]")]
            data = await self.from_gemini(adapter, deployment, inputs)
            raw = orjson.dumps(data)
        self.usage = self.image_usage(data)
        return raw, self.usage, "application/json"


# --- audio --------------------------------------------------------------------------------


class _Transcription(_Form):
    """``POST /v1/audio/transcriptions`` (``stream=true``: the upstream's
    ``transcript.text.delta`` / ``transcript.text.done`` events relayed as they come)."""

    mode = media_prices.TRANSCRIPTION
    what = "audio transcriptions"
    path = "audio/transcriptions"
    translation = False

    def check(self) -> None:
        self.used = audio.Used()
        self.usage = Usage()
        self.pending = b""
        self.measured: tuple[float, str] | None = None  # the upload's (seconds, from where)
        form = self.parse_form()
        files = [(p.filename or "", p.size) for p in form.files("file")]
        self.stream = audio.check_transcription(self.body, files, self.translation)
        self.call.record.stream = self.stream

    def prompt_text(self) -> str:
        return self.body.get("prompt") or ""

    def per_second(self, deployment: DeploymentEntry) -> Decimal | None:
        """USD per second of audio in: the deployment's ``price_per_second``, else the
        table's (None: not priced so)."""
        own = _decimal((deployment.params or {}).get("price_per_second"))
        if own is not None:
            return own
        table = media_prices.price_of(deployment.model)
        return table.per_second if table is not None else None

    async def measure(self, deployment: DeploymentEntry) -> None:
        """The upload's length, read from its headers in a worker thread, when the
        deployment is priced per second: ``text``, ``srt`` and ``vtt`` answers (and
        servers that report nothing) do not say it."""
        if self.measured is not None or self.per_second(deployment) is None:
            return
        [upload] = self.form.files("file")
        self.measured = await asyncio.to_thread(audio.file_seconds, upload.data)

    def seconds(self) -> tuple[float, str] | None:
        """The seconds priced and where they come from: the upstream's report, else
        the file's headers, else the estimate from its size."""
        if self.used.seconds:
            return self.used.seconds, audio.FROM_UPSTREAM
        return self.measured

    def logged(self) -> bytes:
        shown = {**self.form.summary(), **self.replaced}
        seconds = self.seconds()
        if seconds is not None:
            shown["audio_seconds"] = round(seconds[0], 3)
            shown["audio_seconds_from"] = seconds[1]
        return orjson.dumps(shown)

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        raw, kind = await self.post_form(adapter, deployment)
        self.used.read_body(raw)
        if not self.used.seconds:
            await self.measure(deployment)
        self.usage = Usage(input_tokens=self.used.input_tokens,
                           output_tokens=self.used.output_tokens)  # fmt: skip
        return raw, self.usage, kind

    async def open_media(
        self, adapter: Provider, deployment: DeploymentEntry
    ) -> tuple[str, AsyncIterator[bytes]]:
        await self.measure(deployment)  # in case the final event reports no duration
        content = self.sent(deployment)
        post = MediaPost(self.path, content, self.form.content_type)
        return await adapter.media_stream(post, deployment, self.exchange())

    def watch(self, chunk: bytes) -> None:
        # SSE: usage is in the final transcript.text.done event's data line
        text = self.pending + chunk
        lines = text.split(b"\n")
        self.pending = lines.pop()[-65536:]
        for line in lines:
            if line.startswith(b"data:"):
                self.used.read_event(line[5:].strip())
        self.usage = Usage(input_tokens=self.used.input_tokens,
                           output_tokens=self.used.output_tokens)  # fmt: skip

    def unit_cost(
        self, deployment: DeploymentEntry, table: media_prices.MediaPrice | None, usage: Usage
    ) -> Decimal:
        if usage.input_tokens and table is not None and table.input:
            return Decimal(0)  # priced by its tokens
        each = self.per_second(deployment)
        seconds = self.seconds()
        if each is None or seconds is None:
            return Decimal(0)
        self.call.logged_request = self.logged()  # the row says where they come from
        return each * Decimal(str(round(seconds[0], 3)))

    def summary(self, payload: bytes, content_type: str) -> bytes:
        return payload  # a transcript: text, logged as any answer (body-logging setting)


class _Translation(_Transcription):
    """``POST /v1/audio/translations`` (to English; never streamed)."""

    what = "audio translations"
    path = "audio/translations"
    translation = True


class _Speech(_Media):
    """``POST /v1/audio/speech``: the audio (or, with ``stream_format: "sse"``, the
    ``speech.audio.delta`` / ``speech.audio.done`` events) relayed chunk by chunk as
    the upstream sends it, never read whole."""

    mode = media_prices.SPEECH
    what = "speech"
    path = "audio/speech"
    stream = True

    def check(self) -> None:
        self.content_type = audio.check_speech(self.body)
        self.used = audio.Used()
        self.usage = Usage()
        self.pending = b""
        self.sse = self.body.get("stream_format") == "sse"
        self.call.record.stream = True

    def prompt_text(self) -> str:
        return str(self.body.get("input") or "")

    async def open_media(
        self, adapter: Provider, deployment: DeploymentEntry
    ) -> tuple[str, AsyncIterator[bytes]]:
        content = orjson.dumps(for_deployment(self.body, deployment))
        post = MediaPost(self.path, content, "application/json")
        return await adapter.media_stream(post, deployment, self.exchange())

    def watch(self, chunk: bytes) -> None:
        if not self.sse:
            return
        text = self.pending + chunk
        lines = text.split(b"\n")
        self.pending = lines.pop()[-65536:]
        for line in lines:
            if line.startswith(b"data:") and b"speech.audio.done" in line:
                self.used.read_event(line[5:].strip())
        self.usage = Usage(input_tokens=self.used.input_tokens,
                           output_tokens=self.used.output_tokens)  # fmt: skip

    def price(self, deployment: DeploymentEntry, usage: Usage) -> Decimal:
        if not usage.input_tokens:  # audio out reports no usage: the input's estimate
            usage = Usage(input_tokens=self.estimate)
            self.usage = usage
        return super().price(deployment, usage)

    def unit_cost(
        self, deployment: DeploymentEntry, table: media_prices.MediaPrice | None, usage: Usage
    ) -> Decimal:
        own = _decimal((deployment.params or {}).get("price_per_character"))
        each = own if own is not None else (table.per_character if table is not None else None)
        return Decimal(0) if each is None else each * len(self.prompt_text())

    def stream_summary(self, sent: int) -> bytes:
        return orjson.dumps({"audio_bytes": sent, "content_type": self.content_type})


class _ForGemini(_Media):
    """A Gemini client's ``generateContent`` (or ``streamGenerateContent``) asking for
    image output: its answer is one ``generateContent`` body (a stream is that one
    answer as one event), journaled as how many images and how many bytes."""

    mode = media_prices.IMAGE
    what = "image generation"
    wants_stream = False

    def reply(self, data: dict[str, Any]) -> tuple[bytes, Usage, str]:
        """``data`` (a ``generateContent`` answer) as the client reads it."""
        answer = orjson.dumps(data)
        if self.wants_stream:
            return b"data: " + answer + b"\r\n\r\n", self.usage, "text/event-stream"
        return answer, self.usage, "application/json"

    def summary(self, payload: bytes, content_type: str) -> bytes:
        return orjson.dumps({"images": int(self.units), "bytes": len(payload)})


class GeminiImages(_ForGemini):
    """A Gemini client asking for image output on a route to an OpenAI image model: an
    images generation body (``images.generation_from_gemini``), or an images edit form
    when the last turn carries images to change (``images.gemini_input_images``), and
    the answer as ``inlineData`` parts."""

    path = "images/generations"
    declared_as = "gemini_images"

    def check(self) -> None:
        self.wants_stream = bool(self.body.get("stream"))
        self.generation = images.generation_from_gemini(self.body, str(self.body.get("model")))
        self.pictures = images.gemini_input_images(self.body)
        if self.pictures:
            self.what, self.path = "image edits", "images/edits"
        self.count = images.check_generation(self.generation)

    def prompt_text(self) -> str:
        return str(self.generation.get("prompt") or "")

    def guarded_body(self) -> dict[str, Any]:
        return self.generation  # the prompt the image model gets

    def logged(self) -> bytes:
        """The generation's fields, and each image to edit as its type and size."""
        shown: dict[str, Any] = dict(self.generation)
        if self.pictures:
            shown["images"] = [{"content_type": k, "bytes": len(d)} for k, d in self.pictures]
        return orjson.dumps(shown)

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        adapter = super().begin(route, deployment)
        if adapter.speaks is not OPENAI:
            raise InvalidRequest(
                f"model {route.name!r}: image output for Gemini clients goes to OpenAI image "
                "models; this route's upstream speaks Gemini itself (route it as chat)",
                param="model",
            )
        return adapter

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        body = for_deployment(self.generation, deployment)
        if not deployment.model.lower().startswith("gpt-image"):  # those answer b64 alone
            body["response_format"] = "b64_json"  # the image inline, not a link
        if self.pictures:
            boundary = "switchyard-" + uuid.uuid4().hex
            content, kind = images.edit_form(body, self.pictures, boundary)
        else:
            content, kind = orjson.dumps(body), "application/json"
        raw, _kind = await adapter.media(
            MediaPost(self.path, content, kind), deployment, self.exchange()
        )
        data = _json_answer(raw)
        self.usage = _ImageGeneration.image_usage(self, data)  # type: ignore[arg-type]
        return self.reply(images.gemini_answer(data, self.public))

    def unit_cost(
        self, deployment: DeploymentEntry, table: media_prices.MediaPrice | None, usage: Usage
    ) -> Decimal:
        own = _decimal((deployment.params or {}).get("price_per_image"))
        each = own if own is not None else media_prices.image_price(
            table, self.generation.get("size"), self.generation.get("quality")
        )  # fmt: skip
        return Decimal(0) if each is None else each * self.units


class GeminiNativeImages(_ForGemini):
    """A Gemini client asking a Gemini image model for image output: its
    ``generateContent`` body goes to the model as it came (the chat path's canonical
    answer has no image parts, so it would lose them), the answer comes back as is.
    Priced by the tokens it reports."""

    gemini = True
    declared_as = "gemini_native_images"

    def check(self) -> None:
        self.wants_stream = bool(self.body.get("stream"))
        # metadata.tags is the gateway's (the journal's), never the upstream's
        sent = tags.without_tags(self.body)
        self.sent = {k: v for k, v in sent.items() if k not in ("model", "stream")}

    parsed: ChatRequest | None = None

    def guard_request(self) -> ChatRequest:
        """The Gemini body as a chat request (its texts: what the guardrails read)."""
        if self.parsed is None:
            self.parsed = self.call.client.parse_request(self.body, self.headers)
        return self.parsed

    def rewritten(self, carry: Any) -> None:
        self.sent = carry(self.sent)
        self.call.logged_request = self.logged()

    def prompt_text(self) -> str:
        return self.call.raw.decode("utf-8", errors="replace")[:100_000]

    def logged(self) -> bytes:
        """The body with each inline image's data replaced by its length."""
        contents = self.sent.get("contents")
        shown = []
        for content in contents if isinstance(contents, list) else []:
            if not isinstance(content, dict):
                continue
            parts = []
            for part in content.get("parts") or []:
                inline = part.get("inlineData") if isinstance(part, dict) else None
                if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                    inline = {**inline, "data": f"<{len(inline['data'])} base64 characters>"}
                    part = {**part, "inlineData": inline}
                parts.append(part)
            shown.append({**content, "parts": parts})
        return orjson.dumps({**self.sent, "contents": shown})

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        adapter = super().begin(route, deployment)
        if "images" not in adapter.also_serves:  # (a mixed route: GeminiMixedImages)
            raise InvalidRequest(
                f"model {route.name!r}: deployment {deployment.label} is not a Gemini image model",
                param="model",
            )
        return adapter

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        data = await adapter.generate_content(self.sent, deployment, self.exchange())
        found = sum(
            1
            for candidate in data.get("candidates") or []
            for part in (candidate.get("content") or {}).get("parts") or []
            if isinstance(part, dict) and (part.get("inlineData") or part.get("inline_data"))
        )
        self.units = Decimal(found)
        reported = data.get("usageMetadata") or {}
        self.usage = Usage(
            input_tokens=int(reported.get("promptTokenCount") or 0),
            output_tokens=int(reported.get("candidatesTokenCount") or 0),
        )
        return self.reply(data)


class GeminiMixedImages(GeminiNativeImages):
    """A Gemini client asking for image output on a route that mixes Gemini image
    models with OpenAI ones: each attempt takes the form of the deployment routing
    picked, the client's body as it came for a Gemini model (``GeminiNativeImages``),
    an images generation for an OpenAI one (``GeminiImages``, whose answer comes back
    as ``inlineData`` parts). A body that has no images generation form (an image in
    the prompt) is refused only when an OpenAI deployment is picked."""

    def check(self) -> None:
        super().check()
        self.openai = GeminiImages(self.call, self.key, self.body, self.headers)
        self.refusal: InvalidRequest | None = None
        try:
            self.openai.check()
        except InvalidRequest as refused:
            self.refusal = refused
        self.native = True

    def rewritten(self, carry: Any) -> None:
        super().rewritten(carry)
        if hasattr(self.openai, "generation"):  # (else the form is refused anyway)
            self.openai.generation = carry(self.openai.generation)

    def begin(self, route: RouteEntry, deployment: DeploymentEntry) -> Provider:
        return _Media.begin(self, route, deployment)  # either kind of image model

    async def answer(
        self, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
    ) -> tuple[bytes, Usage, str]:
        self.native = "images" in adapter.also_serves
        if self.native:
            return await super().answer(adapter, route, deployment)
        if self.refusal is not None:
            raise self.refusal
        other = self.openai
        other.public, other.estimate = self.public, self.estimate
        payload, self.usage, kind = await other.answer(adapter, route, deployment)
        self.units = other.units
        return payload, self.usage, kind

    def unit_cost(
        self, deployment: DeploymentEntry, table: media_prices.MediaPrice | None, usage: Usage
    ) -> Decimal:
        if self.native:
            return super().unit_cost(deployment, table, usage)
        return self.openai.unit_cost(deployment, table, usage)


def _generates_content(deployment: DeploymentEntry) -> bool:
    """A Google upstream, which takes a Gemini body for images (``generate_content``)."""
    adapter: type[Provider] | None = kinds.adapter_class(deployment.provider.kind)
    return adapter is not None and "images" in adapter.also_serves


def for_gemini_route(job: Any, route: RouteEntry) -> Any:
    """The job a Gemini client's request takes on ``route``: ``GeminiImages`` when it
    asks for image output and the route's deployments generate images through OpenAI's
    API; the chat job otherwise (a Gemini upstream takes the body itself). Image output
    asked of a route that has no image model, outside Google, is a 400, as Gemini
    answers a text model asked for images. A Gemini image model gets the client's body
    as it came (``GeminiNativeImages``)."""
    call = job.call
    if call.dialect != "gemini" or call.endpoint != "chat" or not images.asks_for_image(job.body):
        return job  # (countTokens asking about image output generates nothing)
    drawing = bool(route.deployments) and all(
        mode_of(d) == media_prices.IMAGE for d in route.deployments
    )
    google = any(_generates_content(d) for d in route.deployments)
    if drawing or google:
        if not drawing:
            return job  # a Gemini text model: the upstream answers as it does
        mixed = google and not all(_generates_content(d) for d in route.deployments)
        kind = GeminiMixedImages if mixed else GeminiNativeImages if google else GeminiImages
        images_job = kind(job.call, job.key, job.body, job.headers)
        images_job.check()
        return images_job
    raise InvalidRequest(
        f"model {route.name!r} cannot generate images (responseModalities IMAGE): its "
        "deployments serve " + ", ".join(sorted({mode_of(d) for d in route.deployments})),
        param="generationConfig.responseModalities",
    )


# endpoint -> its part in the pipeline
MEDIA_JOBS: dict[str, type[_Media]] = {
    "image_generation": _ImageGeneration,
    "image_edit": _ImageEdit,
    "transcription": _Transcription,
    "translation": _Translation,
    "speech": _Speech,
    "gemini_images": GeminiImages,
}
