"""Matching a GPU name as NVML reports it to a known GPU model (pure: names in, choice out).

NVML and the reference tables spell the same card differently: "NVIDIA H100 80GB HBM3" is the
table's "NVIDIA H100 SXM 80GB", "Tesla V100-SXM2-16GB" is "NVIDIA Tesla V100 SXM2 16GB". Names
are reduced to a key: the model words (vendor words dropped), the form factor (SXM, PCIe, NVL)
and the memory size. A candidate matches when its model words are the same and neither the form
factor nor the memory contradicts; among several, the one agreeing on the most details wins.
"""

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")

_VENDOR_WORDS = {"nvidia", "tesla", "amd", "geforce", "graphics", "gpu"}
_MEMORY_TYPES = {"hbm", "hbm2", "hbm2e", "hbm3", "hbm3e", "gddr5", "gddr6", "gddr6x", "gddr7"}
_FORM_FACTORS = {
    "sxm": "sxm",
    "sxm2": "sxm",
    "sxm3": "sxm",
    "sxm4": "sxm",
    "sxm5": "sxm",
    "pcie": "pcie",
    "nvl": "nvl",
}
_MEMORY = re.compile(r"^(\d+)gb?$")  # "80gb", "80g"


@dataclass(frozen=True)
class GpuNameKey:
    model: tuple[str, ...]
    form_factor: str | None
    memory_gb: int | None


@functools.lru_cache(maxsize=4096)
def exact_form(name: str) -> str:
    """Case and spacing do not matter for an exact match."""
    return " ".join(name.lower().split())


@functools.lru_cache(maxsize=4096)
def name_key(name: str) -> GpuNameKey:
    text = name.lower()
    # A MIG slice ("... MIG 1g.10gb") is a part of the card before it.
    text = re.split(r"\bmig\b", text)[0]
    text = re.sub(r"\([^)]*\)", " ", text)  # "(BLOOM study)": a note, not part of the model
    text = re.sub(r"(\d+)\s+gb\b", r"\1gb", text)  # "80 GB" -> "80gb"
    model, form_factor, memory_gb = [], None, None
    for word in re.split(r"[\s\-_/,]+", text):
        if not word or word in _VENDOR_WORDS or word in _MEMORY_TYPES:
            continue
        if word in _FORM_FACTORS:
            form_factor = _FORM_FACTORS[word]
        elif _MEMORY.match(word):
            memory_gb = int(_MEMORY.match(word).group(1))
        else:
            model.append(word)
    return GpuNameKey(tuple(model), form_factor, memory_gb)


def _score(device: GpuNameKey, candidate: GpuNameKey) -> int | None:
    """How well a candidate with the same model words fits; None when a detail contradicts."""
    score = 0
    if device.form_factor and candidate.form_factor:
        if device.form_factor != candidate.form_factor:
            return None
        score += 2
    elif device.form_factor is None and candidate.form_factor in (None, "sxm"):
        # NVIDIA names PCIe and NVL cards explicitly; a name without a form factor is the
        # SXM part ("NVIDIA H100 80GB HBM3", "NVIDIA H200") or a generic model.
        score += 1
    if device.memory_gb and candidate.memory_gb:
        if device.memory_gb != candidate.memory_gb:
            return None
        score += 2
    elif device.memory_gb is None and candidate.memory_gb is None:
        score += 1
    return score


def match_gpu_name(device_name: str, candidates: Sequence[tuple[K, Iterable[str]]]) -> K | None:
    """The key of the candidate whose names fit `device_name` best, or None.

    `candidates` are (key, names) in order of preference (a tie goes to the earlier one). An
    exact match (ignoring case and spacing) on any name wins; then the normalised match above.
    """
    if not device_name or not device_name.strip():
        return None
    wanted = exact_form(device_name)
    for key, names in candidates:
        if any(exact_form(name) == wanted for name in names):
            return key
    device_key = name_key(device_name)
    if not device_key.model:
        return None
    best, best_score = None, -1
    for key, names in candidates:
        for name in names:
            candidate_key = name_key(name)
            if candidate_key.model != device_key.model:
                continue
            score = _score(device_key, candidate_key)
            if score is not None and score > best_score:
                best, best_score = key, score
    return best
