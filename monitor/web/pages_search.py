"""Placeholder: filled by its page's work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
