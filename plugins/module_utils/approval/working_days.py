# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Working days between filing a plan and installing it (Art. 17(1): at least three)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta

_SATURDAY = 5


def is_working_day(day: date, holidays: Collection[date], working_weekends: Collection[date] = ()) -> bool:
    """Monday to Friday unless a listed holiday; a listed weekend make-up day (调休) works."""
    if day in holidays:
        return False
    if day.weekday() >= _SATURDAY:
        return day in working_weekends
    return True


def working_days_between(filed: date, install: date, holidays: Collection[date], working_weekends: Collection[date] = ()) -> int:
    """Working days strictly after ``filed`` and strictly before ``install``.

    Neither the filing day nor the installation day counts: a plan filed on a Monday for
    an installation on Friday has three working days (Tuesday, Wednesday, Thursday).
    """
    count = 0
    day = filed + timedelta(days=1)
    while day < install:
        if is_working_day(day, holidays, working_weekends):
            count += 1
        day += timedelta(days=1)
    return count
