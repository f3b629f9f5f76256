"""JSON answers built straight to bytes, for the hot API reads.

Routes that answer this way still declare their Pydantic model (``response_model``), which is
what OpenAPI documents; the functions that build the dictionaries keep that model's exact field
names and order, and tests compare both forms.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonBytes(Response):
    media_type = "application/json"


def json_response(content: Any, status_code: int = 200) -> Response:
    """``content`` (dicts, lists, strings, numbers, ``orjson.Fragment``) as a JSON answer."""
    return JsonBytes(orjson.dumps(content), status_code=status_code)
