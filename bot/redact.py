"""Secrets never reach a log: every log record is scrubbed of the configured tokens.

Logging is process-wide, so is this: `install` wraps the log record factory once and adds
the secrets of each app built in the process. A library that logs a request URL with the
bot token in it (Telegram's does) is scrubbed just the same as our own messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
# Shorter values are not secrets worth matching, and would scrub ordinary words.
_MIN_LENGTH = 6

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    for secret in sorted(_secrets if secrets is None else secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def install(secrets: Iterable[str]) -> None:
    """Scrub these secrets from every log record made from now on."""
    global _installed
    new = {s for s in secrets if len(s) >= _MIN_LENGTH}
    with _lock:
        _secrets.update(new)
        if _installed or not _secrets:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _scrub(record)
            return record

        logging.setLogRecordFactory(factory)


def _scrub(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        # Format the traceback now, scrubbed; handlers use exc_text when it is set.
        formatted = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact(formatted)
        if record.exc_text != formatted:
            # The exception's own text holds the secret: keep handlers from re-formatting it.
            record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
