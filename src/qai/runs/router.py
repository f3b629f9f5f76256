"""HTTP: runs of a project, one run, and the project's live event stream."""

from fastapi import APIRouter

router = APIRouter()
