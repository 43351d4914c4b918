"""The registered request kinds: every reader that iterates over kinds (decisions, /mine,
pending lists, the ledger, retention) takes them from here.

A new kind is declared next to its feature and listed here, once.
"""

from __future__ import annotations

from storage.leave import LEAVE
from storage.requests import Workflows
from storage.subsidy import SUBSIDY

WORKFLOWS = Workflows(LEAVE, SUBSIDY)
