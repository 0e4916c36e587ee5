"""Deprecated: moved to :mod:`embed_middleware._core.policy` (private); removed in the next release."""

from ._moved import moved

moved(__name__)
