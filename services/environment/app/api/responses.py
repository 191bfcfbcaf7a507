"""A JSON response rendered by orjson, numpy arrays included (no per-element Python conversion)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response


class NumpyJSONResponse(Response):
    """``orjson.dumps`` with ``OPT_SERIALIZE_NUMPY``: a 1,000-reward array renders in microseconds."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
