"""Notices as messages: the built-in templates (zh-CN, en) and `compose()` (compose.py)."""

from connectors.notices.compose import CAUSED_FACTS, FACT_KEYS, TEMPLATES, compose, format_date

__all__ = ["CAUSED_FACTS", "FACT_KEYS", "TEMPLATES", "compose", "format_date"]
