"""The registered request kinds: the storage readers that iterate over kinds (pending
counts and lists, the ledger sheets, retention, the daily timers) take them from here.

A new kind is declared next to its feature and listed here, once; its feature (commands,
/mine section, decisions) is wired in bot/app.py.
"""

from __future__ import annotations

from storage.leave import LEAVE
from storage.matters import MATTER
from storage.requests import Workflows
from storage.subsidy import SUBSIDY

WORKFLOWS = Workflows(LEAVE, SUBSIDY, MATTER)
