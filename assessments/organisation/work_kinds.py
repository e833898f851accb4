"""Kinds of work (pure): which kind a project's unit name means, for projects and work
records that existed before work carried a kind (docs/methodology.md, "Work units and their
kinds").

A name that says tokens counts output tokens unless it says input or prompt; a name that says
requests, inferences, queries, calls or completions counts requests; any other name (samples,
images, epochs) keeps the generic kind "other", the project's own unit.
"""

import re

KINDS = ("requests", "input_tokens", "output_tokens", "other")
SERVING_KINDS = ("requests", "input_tokens", "output_tokens")

_TOKENS = re.compile(r"\btokens?\b", re.IGNORECASE)
_INPUT = re.compile(r"\b(input|prompt)\b", re.IGNORECASE)
_REQUESTS = re.compile(
    r"\b(requests?|inferences?|queries|query|calls?|completions?|predictions?)\b", re.IGNORECASE
)


def kind_from_unit_name(name: str) -> str:
    text = (name or "").replace("_", " ").replace("-", " ")
    if _TOKENS.search(text):
        return "input_tokens" if _INPUT.search(text) else "output_tokens"
    if _REQUESTS.search(text):
        return "requests"
    return "other"
