"""The playground: one prompt sent to several routes side by side, each column streamed
through the same ``gateway.core.service`` as the public API.

- ``spec``: the validated run request, each column's conversation and its canonical
  request (written in the column's dialect by its codec, ``gateway.codecs.request_body``);
- ``run``: one turn, every column streaming at once, ticked to the page;
- ``stream``: what a column gets back, read through the codecs' stream parsers;
- ``consumer``: the WebSocket the page drives runs through;
- ``replay``: a logged request as the playground's prefill, parsed by its client codec;
- ``diff``: the word diff of two answers;
- ``prompts``: named saved prompts, per console user;
- ``views`` and ``urls``: the pages and partials.
"""
