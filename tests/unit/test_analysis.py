"""services.extract.analyse: bad input is refused with a reason the user can read."""

from __future__ import annotations

import pytest
import spacy

from services.extract import analyse
from shared.errors import PermanentError

pytestmark = pytest.mark.unit


def test_a_text_over_the_models_limit_is_a_permanent_error_naming_it() -> None:
    small = spacy.blank("en")
    small.max_length = 100
    with pytest.raises(PermanentError, match="200 characters is over the entity model's limit"):
        analyse(None, "The talks in Sochi went well. " * 6 + "x" * 20, nlp=small)
