"""Files (OpenAI ``/v1/files``): their rows (``models``), their bytes (``store``: a local
directory or S3-compatible storage) and what the endpoints do with them (``api``)."""
