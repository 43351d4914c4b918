"""The one place that imports the wechaty SDK, with the fixes it needs on Python 3.11–3.12.

wechaty 0.10.7 (the newest release) was written for Python 3.7–3.9. Everything in classbot
that touches wechaty imports it from here, so these fixes are applied before wechaty loads:

- pyproject's `wechat` extra pins `pyee<9` and `urllib3<2`: wechaty subclasses pyee 8's
  emitter API, and its `requests` usage breaks with urllib3 2.
- `WechatyOptions` declares `puppet_options: PuppetOptions = PuppetOptions()`. Python 3.11
  refuses a dataclass default whose class has `__hash__ = None` (every `@dataclass` with
  `eq=True`), so `import wechaty` raises ValueError. Giving `PuppetOptions` the identity hash
  satisfies the check; nothing hashes puppet options, so no behaviour changes.
- wechaty and wechaty-puppet-service import `telnetlib` (deprecated in 3.11, removed in 3.13,
  hence Python 3.11–3.12 only); its DeprecationWarning is silenced for that one import.
- Importing wechaty creates a `.wechaty/` cache folder (for its plugin scheduler, which the
  adapter does not use) in the working directory; it is pointed at the temp folder instead.
- Each wechaty logger gets its own stderr handler at INFO and stops propagating, so message
  texts (health details) and the service token would be printed around the app's logging.
  They are handed back to the app's logging at WARNING, and `hide_secret` masks the token.
- wechaty prints the login QR code on its own on every `scan` event; the adapter prints the
  URL and the code itself (once, to the operator's console), so wechaty's printer is muted.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from typing import Any

_loggers_before = set(logging.root.manager.loggerDict)
_saved_cache_dir = os.environ.get("CACHE_DIR")
os.environ["CACHE_DIR"] = os.path.join(tempfile.gettempdir(), "classbot-wechaty")
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="'telnetlib' is deprecated", category=DeprecationWarning
    )
    import wechaty_puppet

    wechaty_puppet.PuppetOptions.__hash__ = object.__hash__

    import wechaty
    import wechaty.plugin
    import wechaty.utils.async_helper
    import wechaty.wechaty
    import wechaty_puppet_service
if _saved_cache_dir is None:
    del os.environ["CACHE_DIR"]
else:
    os.environ["CACHE_DIR"] = _saved_cache_dir

WECHATY_LOGGERS = [
    logger
    for name in sorted(set(logging.root.manager.loggerDict) - _loggers_before)
    if isinstance(logger := logging.getLogger(name), logging.Logger) and not logger.propagate
]
for _logger in WECHATY_LOGGERS:
    _logger.handlers = []
    _logger.propagate = True
    _logger.setLevel(logging.WARNING)
# The HTTP/2 libraries under grpclib log every header at DEBUG, the token (sent as the
# :authority header) among them.
for _name in ("hpack", "h2"):
    logging.getLogger(_name).setLevel(logging.INFO)
# Two handlers loading the same contact at once make it warn "set payload more than once".
logging.getLogger("Accessory").setLevel(logging.ERROR)
# FileBox warns about its own deprecated `mimeType` on every file it serializes.
logging.getLogger("FileBox").addFilter(
    lambda record: "mimeType will be deprecated" not in record.getMessage()
)


class _HideSecret(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "***"), None
        return True


def hide_secret(secret: str, *also: logging.Logger) -> None:
    """Mask `secret` in everything wechaty logs (it logs the service token when it has one),
    and in what the `also` loggers log."""
    if not secret:
        return
    for logger in [*WECHATY_LOGGERS, *also]:
        if not any(isinstance(f, _HideSecret) and f.secret == secret for f in logger.filters):
            logger.addFilter(_HideSecret(secret))


def _no_qr_terminal(data: str, version: Any = None) -> None:
    """Stands in for wechaty's own QR printer: the adapter prints the code itself."""


wechaty.wechaty.qr_terminal = _no_qr_terminal

Wechaty = wechaty.Wechaty
# The scheduler class wechaty's plugin manager accepts (it is never started: no plugins).
AsyncIOScheduler = wechaty.plugin.AsyncIOScheduler
WechatyOptions = wechaty.WechatyOptions
Contact = wechaty.Contact
ContactType = wechaty_puppet.ContactType
Message = wechaty.Message
Room = wechaty.Room
FileBox = wechaty_puppet.FileBox
PuppetOptions = wechaty_puppet.PuppetOptions
ScanStatus = wechaty_puppet.ScanStatus
MessageType = wechaty_puppet.MessageType
PuppetService = wechaty_puppet_service.PuppetService
# wechaty drops a message id it has already seen in this process (the app's inbound log also
# covers restarts).
SingleIdContainer = wechaty.utils.async_helper.SingleIdContainer

__all__ = [
    "AsyncIOScheduler",
    "Contact",
    "ContactType",
    "FileBox",
    "Message",
    "MessageType",
    "PuppetOptions",
    "PuppetService",
    "Room",
    "ScanStatus",
    "SingleIdContainer",
    "Wechaty",
    "WechatyOptions",
    "hide_secret",
]
