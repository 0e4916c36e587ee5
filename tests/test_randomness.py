"""``randomness.random_id``: what the page nonce and every ``jti`` are made of."""

from __future__ import annotations

import base64
import re

from embed_middleware.randomness import RANDOM_BYTES, RANDOM_LENGTH, random_id


def test_random_ids_are_128_bits_of_base64url() -> None:
    drawn = {random_id() for _ in range(2000)}
    assert len(drawn) == 2000  # 128 bits: a repeat here would mean the source is not random
    for value in drawn:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", value)
        assert len(base64.urlsafe_b64decode(value + "==")) == RANDOM_BYTES
    assert RANDOM_LENGTH == 22


def test_every_character_position_varies() -> None:
    """A stuck position (a constant prefix, a truncated draw) shows up as one value in 500 draws."""
    drawn = [random_id() for _ in range(500)]
    for position in range(RANDOM_LENGTH - 1):  # the last character carries only 2 random bits
        assert len({value[position] for value in drawn}) > 10
