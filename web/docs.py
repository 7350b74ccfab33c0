"""/openapi.json: the API described, as the service serves it."""

from __future__ import annotations

from .config import WebConfig
from .openapi import build_document
from .responses import json_body
from .router import Query


class DocsResource:
    def __init__(self, config: WebConfig) -> None:
        self._document = build_document(config)

    def openapi(self, query: Query) -> bytes:
        return json_body(self._document)
