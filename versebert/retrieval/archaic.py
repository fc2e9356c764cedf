"""Map Early Modern English word forms to modern ones, so modern queries match older translations.

Snowball stemming leaves ``loveth``, ``believeth``, ``saith`` and ``hath`` alone, so without this
step the query "God loves" shares nothing with "God loveth" in the KJV. The mapping runs on
lower-cased word tokens, before stop-word removal and stemming, on verse texts and queries alike
(so any over-reach is at least consistent on both sides). It is deliberately conservative:

- A fixed table for irregular forms and pronouns (``hath``→``has``, ``saith``→``says``,
  ``thou``/``thee``/``ye``→``you``, ``thy``/``thine``→``your``, ``shalt``→``shall``, ...).
- Third person ``-eth``: ``loveth``→``loving``, which the stemmer brings back to ``love`` (the
  ``-ing`` form restores a dropped ``e`` and undoubles consonants: ``sitteth``→``sitting``→``sit``);
  a stem ending in a vowel takes ``-es`` instead (``seeth``→``sees``, ``dieth``→``dies``). Short
  words (``Seth``, ``Beth``) and a few nouns (``teeth``, ordinals like ``twentieth``) are left alone.
- Second person ``-est``/``-st`` only right next to ``thou`` (``thou knowest``, ``lovest thou``):
  elsewhere ``-est`` is usually a superlative or a noun (``greatest``, ``priest``, ``forest``),
  and stripping it would split ``priest`` from ``priests``.

Known and left alone: ``art`` (``thou art``) stays, because it is also the noun.
"""

from __future__ import annotations

import functools

IRREGULAR: dict[str, str] = {
    # pronouns
    "thou": "you",
    "thee": "you",
    "ye": "you",
    "thy": "your",
    "thine": "your",
    "thyself": "yourself",
    # have, do, say
    "hath": "has",
    "hast": "have",
    "hadst": "had",
    "doth": "does",
    "dost": "do",
    "didst": "did",
    "saith": "says",
    # modal and be forms of the second person
    "shalt": "shall",
    "wilt": "will",
    "canst": "can",
    "couldest": "could",
    "couldst": "could",
    "wouldest": "would",
    "wouldst": "would",
    "shouldest": "should",
    "shouldst": "should",
    "mayest": "may",
    "mayst": "may",
    "mightest": "might",
    "wast": "was",
    "wert": "were",
    # spellings and strong past tenses
    "shew": "show",
    "shewed": "showed",
    "shewn": "shown",
    "shewing": "showing",
    "sheweth": "shows",
    "shewest": "show",
    "spake": "spoke",
    "sware": "swore",
    "brethren": "brothers",
    "unto": "to",
}

# Words that end in -eth but are not verb forms (or whose stripping would merge different words).
NOT_ETH_VERBS = frozenset(
    {"teeth"} | {f"{tens}ieth" for tens in ("twent", "thirt", "fort", "fift", "sixt", "sevent", "eight", "ninet")}
)


def _modern_verb(stem: str) -> str:
    """``lov`` → ``loving``, ``se`` → ``sees``: a form the stemmer maps back to the modern verb."""
    return stem + "es" if stem[-1] in "ie" else stem + "ing"


def modernize_eth(word: str) -> str:
    """Third person singular ``-eth`` (``loveth``) as a modern form; other words unchanged."""
    if word.endswith("eth") and len(word) >= 5 and word not in NOT_ETH_VERBS:
        return _modern_verb(word[:-3])
    return word


def _modernize_second_person(word: str) -> str:
    suffix = "est" if word.endswith("est") else "st"
    return _modern_verb(word[: -len(suffix)]) if len(word) - len(suffix) >= 2 else word


def _next_to_thou(words: list[str], position: int) -> bool:
    return "thou" in words[max(0, position - 1) : position] + words[position + 1 : position + 2]


@functools.lru_cache(maxsize=1 << 16)
def _modern_word(word: str) -> str:
    """The context-free part of the mapping, cached: a Bible has only ~15k distinct words."""
    return IRREGULAR.get(word) or modernize_eth(word)


def normalize_archaic(words: list[str]) -> list[str]:
    """Modernize a sequence of lower-cased word tokens (see the module docstring for the rules)."""
    if "thou" not in words:
        return [_modern_word(word) for word in words]
    return [
        _modernize_second_person(word)
        if word not in IRREGULAR and word.endswith("st") and _next_to_thou(words, position)
        else _modern_word(word)
        for position, word in enumerate(words)
    ]
