"""A tiny cookie-keeping HTTP client for tests that drive the example servers on loopback."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    url: str
    headers: Message
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class Browser:
    """``urllib`` with a cookie jar; error statuses are returned, not raised."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, url: str, headers: dict[str, str] | None = None) -> Reply:
        return self._open(urllib.request.Request(url, headers=headers or {}))

    def post(self, url: str, form: dict[str, str]) -> Reply:
        return self._open(urllib.request.Request(url, data=urllib.parse.urlencode(form).encode()))

    def _open(self, request: urllib.request.Request) -> Reply:
        try:
            with self.opener.open(request, timeout=10) as response:
                return Reply(response.status, response.url, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.url, error.headers, error.read().decode())
