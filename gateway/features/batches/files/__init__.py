"""Files (OpenAI ``/v1/files``): their bytes (``store``: a local directory or
S3-compatible storage), each key's storage ``quota`` and what the endpoints do with
them (``api``); their rows are the store's (``gateway.models.files``).

Part of the batches feature: files exist for batches (their input, their output and
error files) and for uploads that later requests name; only batches, the edge's files
endpoint and the console use them."""
