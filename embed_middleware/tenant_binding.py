"""Deprecated: moved to :mod:`embed_middleware.jwk`; this alias goes in the next release."""

from ._moved import moved

moved(__name__)
