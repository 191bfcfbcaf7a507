"""The baseline of the decision benchmark: a bare FastAPI endpoint returning a constant.

Served by the same uvicorn, with the same flags, on the same machine as the decision API, so
the ratio of the two throughputs is the cost of the decision itself (validation, the Thompson
draw, the propensity, logging, metrics) relative to FastAPI's own floor.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="bare baseline")
CONSTANT = {"decision_id": "0" * 32, "arms": [3, 1, 0], "propensity": 0.5, "epoch": 1, "fallback": False}


@app.post("/recommend")
async def recommend() -> dict[str, object]:
    return CONSTANT
