"""Durable background work (DBOS): the code-agent runs and their workers."""
