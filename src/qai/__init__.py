"""QAI: a self-hosted AI app builder."""

__version__ = "0.1.0"
