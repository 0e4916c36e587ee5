"""Deprecated: moved to :mod:`embed_middleware._core.scope_request` (private); removed in the next release."""

from ._moved import moved

moved(__name__, "embed_middleware._core.scope_request")
