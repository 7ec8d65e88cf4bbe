"""``disputes:`` in ``dialtone.yaml``: carrier dispute windows and how credits are matched.

A dispute must reach the carrier inside its dispute window, counted from the bill date. The
window of a disputed charge's account is, in order: the estate's ``accounts.dispute_window_days``
(what the carrier's contract says, collected), this section's ``windows`` for the account's
vendor, then ``window_days``. Credits on later bills are matched to a dispute by the reference
the carrier echoes, else by account, charge code and amount within ``credit_tolerance``
(docs/disputes.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The window when neither the estate nor the settings name one (DOMAIN C30: 60-180 days
#: across carriers; 90 is the common default).
DEFAULT_WINDOW_DAYS = 90

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        # vendor (as the estate names it) → days
        "windows": {"type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 3650}},
        # A credit without the dispute's reference matches a disputed charge when its amount is
        # within this much of the claimed amount (absolute, in the charge's currency).
        "credit_tolerance": {"type": "number", "minimum": 0, "maximum": 1000},
    },
}


@dataclass(frozen=True)
class DisputeSettings:
    window_days: int = DEFAULT_WINDOW_DAYS
    windows: dict[str, int] = field(default_factory=dict)
    credit_tolerance: float = 0.01

    def window_for(self, vendor: str | None, account_days: int | None = None) -> int:
        """The account's own window, else the vendor's, else the default."""
        if account_days:
            return int(account_days)
        if vendor is not None:
            for name, days in self.windows.items():
                if name.casefold() == vendor.casefold():
                    return days
        return self.window_days


def parse(section: dict | None) -> DisputeSettings:
    """The section as checked by the configuration's schema (``SCHEMA``)."""
    section = section or {}
    return DisputeSettings(
        window_days=section.get("window_days", DEFAULT_WINDOW_DAYS),
        windows=dict(section.get("windows") or {}),
        credit_tolerance=float(section.get("credit_tolerance", 0.01)),
    )
