"""Versions of an app: numbered, restored, edited by hand, forked, compared, downloaded whole,
and cloned with git. Sits above messages and projects (neither imports it)."""
