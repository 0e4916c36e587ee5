"""Deprecated: moved to :mod:`embed_middleware.verify.claims`; this alias goes in the next release."""

from ._moved import moved

moved(__name__)
