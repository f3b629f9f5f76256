"""The HTTP application: JSON API, operations endpoints, pages and previews."""

from qai.api.app import create_app

__all__ = ["create_app"]
