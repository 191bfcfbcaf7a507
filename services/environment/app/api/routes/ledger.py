"""What the environment served, per epoch and per batch, to reconcile against the store's books."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.environment.app.models import LedgerOut

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get("", response_model=LedgerOut, summary="Pulls and reward sums served, per epoch and per batch")
def get_ledger(request: Request, epoch: int | None = None) -> dict[str, Any]:
    """Per-epoch totals since the service started, and the remembered batches (of ``epoch`` when given)."""
    snapshot: dict[str, Any] = request.app.state.ledger.snapshot(epoch)
    return snapshot
