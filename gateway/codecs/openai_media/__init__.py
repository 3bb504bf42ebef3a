"""OpenAI's media endpoints: images (``/v1/images/generations`` JSON,
``/v1/images/edits`` multipart) and audio (``/v1/audio/transcriptions`` and
``/translations`` multipart, ``/v1/audio/speech`` JSON in, audio bytes out).

Not a chat codec (nothing here becomes a ``ChatRequest``): ``forms`` reads and rewrites
multipart bodies, ``images`` checks image requests and translates them to and from
Gemini's ``generateContent`` with image output, ``audio`` checks audio requests and
reads what they cost. The client envelope is OpenAI's (``CODECS["openai"]``); the
upstreams are OpenAI-compatible servers (bodies passed through, the model renamed) or,
for images, Gemini."""
