"""Exceptions the middleware raises, so an app can tell a setting to fix from a request gone bad."""

from __future__ import annotations


class EmbedError(Exception):
    """Base of everything the library raises on purpose: ``except EmbedError`` catches them all."""


class ConfigurationError(EmbedError, ValueError):
    """A setting is wrong; raised at construction, with a message that says what to fix."""


class TokenIssueError(EmbedError, RuntimeError):
    """A resolver or claims hook failed while a token was being prepared for this request.

    The middleware answers such a request with a clean 500 (before any header is sent) and logs the
    original exception as the cause; the message never contains a token or a key.
    """


class RevocationStoreError(EmbedError, RuntimeError):
    """The revocation store could not be read or written (e.g. Redis is down).

    Verifiers treat it as a rejection (fail closed): a token is never accepted because the list of
    revoked tenants could not be checked.
    """
