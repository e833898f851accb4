"""Ranges in words: a figure with its range, and what would narrow the range most.

Wording only: the numbers come from ScopeFigures.ranges and range_drivers
(footprint.ranges_math); each surface writes its numbers its own way (the pages with
templatetags.greenai.format_number, the report with reports.report_summary.format_number) and
composes them here, so "value (low–high)" and the drivers' sentences read the same everywhere.
"""

from collections.abc import Iterable

RANGE_DASH = "–"
# Drivers shown after the first, and the least share worth a mention.
NEXT_DRIVERS_SHOWN = 2
LEAST_SHARE_SHOWN = 0.005

# What would narrow an input, by the kind its key ends with ("site:paris-dc1:pue") or starts
# with ("measurement:nvml_gpu").
_REMEDIES = {
    "pue": "measuring it",
    "grid": "an hourly series or the zone's own figure",
    "price": "the contract's price",
    "embodied": "a manufacturer's carbon footprint of it",
    "lifetime": "the replacement plan",
    "measurement": "a more accurate meter",
}


def range_text(value_text: str, low_text: str | None, high_text: str | None) -> str:
    """'1,234.5 kgCO2e (987.6–1,610.2)': the value as written, then its low and high written the
    same way. No range where there is none or both ends read the same (nothing uncertain at the
    precision shown)."""
    if low_text is None or high_text is None or low_text == high_text:
        return value_text
    return f"{value_text} ({low_text}{RANGE_DASH}{high_text})"


def split_range(text: str) -> tuple[str, str]:
    """range_text's parts: ('1,234.5 kgCO2e', '(987.6–1,610.2)'), or (text, '') without a range;
    for a layout that puts the range under its value."""
    head, sep, tail = text.rpartition(" (")
    if sep and tail.endswith(")") and RANGE_DASH in tail:
        return head, f"({tail}"
    return text, ""


def share_text(share: float) -> str:
    """A driver's share of a range, 0..1, as '41 %'."""
    return f"{share * 100:.0f} %"


def _remedy(input_key: str) -> str:
    parts = input_key.split(":")
    return _REMEDIES.get(parts[-1]) or _REMEDIES.get(parts[0]) or "knowing it better"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def whose_figure(*, team_name: str | None = None, project_name: str | None = None) -> str:
    """Whose figure a sentence is about: "the organisation's", "team NLP's", "project X's"."""
    if project_name:
        return f"project {project_name}'s"
    if team_name:
        return f"team {team_name}'s"
    return "the organisation's"


def narrowing_sentences(drivers: Iterable, *, whose: str) -> list[str]:
    """What would narrow a scope's total carbon most, in words, from its range drivers (largest
    share first, as ScopeFigures.range_drivers lists them). `whose`: "the organisation's",
    "team NLP's". Empty when nothing widens the range.

    'PUE of paris-dc1: 41 % of the range; measuring it would narrow the organisation's figure
    most.' then 'Next: embodied carbon of NVIDIA H100 SXM 80GB (23 %), ...'.
    """
    shown = [d for d in drivers if d.share >= LEAST_SHARE_SHOWN]
    if not shown:
        return []
    top, rest = shown[0], shown[1 : 1 + NEXT_DRIVERS_SHOWN]
    sentences = [
        f"{_capitalised(top.label)}: {share_text(top.share)} of the range; "
        f"{_remedy(top.input)} would narrow {whose} figure most."
    ]
    if rest:
        listed = ", ".join(f"{d.label} ({share_text(d.share)})" for d in rest)
        sentences.append(f"Next: {listed}.")
    return sentences
