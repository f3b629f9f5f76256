"""The versions package's errors (see ``qai.errors``)."""

from __future__ import annotations

from qai.errors import BadRequest, QaiError


class VersionTooLarge(QaiError):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The edited version is past the limits a version keeps"


class NothingChanged(BadRequest):
    default_message = "The edit changes nothing: every file already has that content"
