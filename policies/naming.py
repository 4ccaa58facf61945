"""Mailbox local part / directory uid from a person's Chinese name.

IT's rule: the uid is the pinyin of the Chinese name (张伟 -> ``zhangwei``),
collisions get a counter (``zhangwei``, ``zhangwei2``, ``zhangwei3`` ...) in one
namespace shared by every mail domain of the group.

Pipeline, all pure functions (no I/O):

    normalize_name  ->  split_name  ->  name_parts  ->  render_local_part
                                                    ->  choose_local_part

* The surname is read from the project's own table (`policies.surnames`),
  because pypinyin has no surname mode (曾 would be ``ceng``); the given name
  is read by pypinyin with phrase context.
* Anything that would need a guess is refused with a `NamingProblem` saying
  what is wrong and how an admin fixes it (usually a ``[naming.overrides]``
  entry).  A refusal is never an exception: the engine reports it and goes on.

Length rule (`render_local_part`): the rendered base is cut to
``max_length - SUFFIX_ROOM`` characters (``SUFFIX_ROOM`` = 3), then trailing
``.``/``_``/``-`` are removed.  Every base therefore leaves room for a counter
up to 999 and ``base + counter`` never exceeds ``max_length``; the base of a
person does not depend on whether their name collides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from lifecycle.domain.dn import match_key
from policies.surnames import compound_prefix, surname_reading

__all__ = [
    "ALLOWED_PLACEHOLDERS",
    "MAX_COUNTER",
    "OVERRIDE_FIX",
    "SUFFIX_ROOM",
    "LocalPartsExhausted",
    "NameParts",
    "NamingProblem",
    "choose_local_part",
    "name_parts",
    "normalize_name",
    "propose_local_part",
    "render_local_part",
    "split_name",
]

SUFFIX_ROOM = 3  # characters kept free for the collision counter
MAX_COUNTER = 10**SUFFIX_ROOM - 1  # 999: largest counter that fits in SUFFIX_ROOM
ALLOWED_PLACEHOLDERS = frozenset({"pinyin", "surname", "given", "initials", "given_initials"})
EMPLOYEE_PLACEHOLDER = "<employee_id>"
OVERRIDE_FIX = f'add "{EMPLOYEE_PLACEHOLDER}" = "<local part>" under [naming.overrides] in the config'

_ZERO_WIDTH = frozenset("\u200b\u200c\u200d\ufeff\u2060")
# What normalize_name drops: any white space (regex \s is exactly str.isspace) or a zero-width character.
_DROPPED = re.compile(r"[\s\u200b\u200c\u200d\ufeff\u2060]")
# Separators of transcribed minority / foreign names (买买提·艾力).  Checked
# after NFKC, which already folds the full-width and small forms (．﹒･) into these.
_NAME_SEPARATORS = frozenset("·•・‧.∙⋅‐-‑–—_'")
_UMLAUT = {"v": "v", "yu": "yu", "u": "u"}
_SYLLABLE = re.compile(r"[a-zü]+")
_PLACEHOLDER = re.compile(r"{(\w*)}")
_LOCAL_PART = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class NamingProblem:
    """Why no local part can be derived, and what an admin does about it."""

    reason: str
    fix: str

    def for_employee(self, employee_id: str) -> NamingProblem:
        """The same problem with ``<employee_id>`` in `fix` replaced by the real id."""
        return replace(self, fix=self.fix.replace(EMPLOYEE_PLACEHOLDER, employee_id))

    def __str__(self) -> str:
        return f"{self.reason}; fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class NameParts:
    """The pinyin of a name, split into surname and given name (ASCII a-z only)."""

    surname: str  # syllables joined: "ouyang"
    given: str  # "nana"
    surname_syllables: tuple[str, ...]  # ("ou", "yang")
    given_syllables: tuple[str, ...]  # ("na", "na")

    @property
    def pinyin(self) -> str:
        return self.surname + self.given


class LocalPartsExhausted(ValueError):
    """Every candidate ``base``, ``base2`` ... ``base999`` is taken."""


def lower_name(text: str) -> str:
    """A uid or local part as the directory compares it (`match_key`), without a copy when it is a
    lower-case ASCII name already (uids nearly always are)."""
    return text if text.isascii() and text.islower() and " " not in text else match_key(text)


def normalize_name(raw: str) -> str:
    """NFKC, then drop zero-width characters and every kind of whitespace.

    Whitespace goes wherever it is (``张　伟``, ``" 张伟 "``, ``张\\u200b伟`` all
    become ``张伟``): Chinese names contain none, HR exports add it.
    """
    if unicodedata.is_normalized("NFKC", raw) and _DROPPED.search(raw) is None:
        return raw  # already in its final form (the common case: no work, no copy)
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if not ch.isspace() and ch not in _ZERO_WIDTH)
    # Removing a character can leave a combining mark next to a new base
    # character (NFKC of "¯" is " " + U+0304): compose again so the result is
    # itself NFKC and the function idempotent.
    return unicodedata.normalize("NFKC", text)


def _is_han(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


def _is_latin(ch: str) -> bool:
    return "LATIN" in unicodedata.name(ch, "")


def _problem(reason: str, fix: str = OVERRIDE_FIX) -> NamingProblem:
    return NamingProblem(reason=reason, fix=fix)


def _check_characters(name: str, raw: str) -> NamingProblem | None:
    """Refuse anything but Han characters pypinyin has a reading for."""
    shown = repr(raw)
    if not name:
        return _problem(
            f"name {shown} is empty",
            f"fill in the name column of the HR export, or {OVERRIDE_FIX}",
        )
    if any(ch in _NAME_SEPARATORS for ch in name):
        return _problem(
            f"name {shown} contains a separator (dotted names such as 买买提·艾力 have no single "
            "pinyin spelling to derive a mailbox from)",
            f'{OVERRIDE_FIX}, spelled as agreed with the person (e.g. "maimaiti.aili")',
        )
    if any(ch.isdigit() or unicodedata.category(ch) == "No" for ch in name):
        return _problem(
            f"name {shown} contains digits",
            f"correct the name in the HR export (digits usually mean a typo or a placeholder row), or {OVERRIDE_FIX}",
        )
    latin = [ch for ch in name if _is_latin(ch)]
    if latin:
        what = "is written in Latin letters" if len(latin) == len(name) else "mixes Latin letters with other characters"
        return _problem(
            f"name {shown} {what}; only Chinese names are converted automatically",
            f"put the Chinese name in the name column of the HR export, or {OVERRIDE_FIX}",
        )
    others = [ch for ch in name if not _is_han(ch)]
    if others:
        listed = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in dict.fromkeys(others))
        return _problem(
            f"name {shown} contains characters that are not Chinese characters: {listed}",
            f"correct the name in the HR export, or {OVERRIDE_FIX}",
        )
    unread = [ch for ch in name if not _has_reading(ch)]
    if unread:
        listed = ", ".join(f"{ch} (U+{ord(ch):04X})" for ch in dict.fromkeys(unread))
        return _problem(
            f"name {shown}: no pinyin reading is known for {listed}",
            OVERRIDE_FIX,
        )
    return None


def split_name(name: str, family_name: str = "") -> tuple[str, str] | NamingProblem:
    """(surname, given name) in Chinese characters.

    Both arguments are normalised first.  The surname is, in this order:
    `family_name` when `name` starts with it (the HR column wins); the longest
    known compound surname `name` starts with (欧阳娜娜 -> 欧阳, 娜娜), as long
    as something is left for the given name; the first character.  A name of
    fewer than two characters, or one that is all surname, is a problem.
    Characters are not validated here (see `name_parts`).
    """
    name = normalize_name(name)
    family_name = normalize_name(family_name)
    if len(name) < 2:
        return _problem(
            f"name {name!r} has {'no characters' if not name else 'only one character'}; "
            "a surname and a given name are needed",
            f"correct the name in the HR export, or {OVERRIDE_FIX}",
        )
    if family_name and name.startswith(family_name):
        if len(family_name) == len(name):
            return _problem(
                f"name {name!r} is only the family name {family_name!r}; the given name is empty",
                f"correct the name or family name in the HR export, or {OVERRIDE_FIX}",
            )
        return name[: len(family_name)], name[len(family_name) :]
    surname = compound_prefix(name) or name[0]
    return surname, name[len(surname) :]


@lru_cache(maxsize=1 << 14)
def _has_reading(ch: str) -> bool:
    from pypinyin.constants import PINYIN_DICT  # large: loaded only when someone is named

    return ord(ch) in PINYIN_DICT


def readings_cache_full() -> bool:
    """Whether the reading caches are full (so some reading may have been evicted)."""
    return any(cache.cache_info().currsize >= (cache.cache_info().maxsize or 0) for cache in (_reading, _has_reading))


def _read(text: str) -> list[str]:
    return list(_reading(text))


@lru_cache(maxsize=1 << 15)
def _reading(text: str) -> tuple[str, ...]:
    """pypinyin's reading of `text` (pure; given names repeat: many joiners have far fewer distinct ones)."""
    # lazy_pinyin is pinyin(heteronym=False) flattened: one reading per character.
    from pypinyin import Style, lazy_pinyin  # large: loaded only when someone is named

    return tuple(lazy_pinyin(text, style=Style.NORMAL, v_to_u=True, errors="default"))


def _surname_syllables(surname: str) -> list[str]:
    whole = surname_reading(surname)
    if whole is not None:
        return list(whole)
    syllables: list[str] = []
    for ch in surname:  # e.g. an HR family name that is not a known compound
        single = surname_reading(ch)
        syllables.extend(single if single is not None else _read(ch))
    return syllables


def name_parts(name: str, family_name: str = "", u_umlaut: str = "v") -> NameParts | NamingProblem:
    """The pinyin of `name`, or why it cannot be derived without guessing.

    Surname from the table in `policies.surnames` (whole compound, else per
    character), falling back to pypinyin's default; the given name through
    pypinyin (Style.NORMAL, no heteronyms, phrase context within the given
    name).  ü is written per `u_umlaut`: "v" -> lv/nv, "yu" -> lyu/nyu,
    "u" -> lu/nu.  Refused: empty or one-character names, separators (dotted
    names), digits, Latin letters, any non-Han character, any character
    without a reading.
    """
    if u_umlaut not in _UMLAUT:
        raise ValueError(f"u_umlaut must be one of {sorted(_UMLAUT)}, not {u_umlaut!r}")
    normal = normalize_name(name)
    problem = _check_characters(normal, name)
    if problem is not None:
        return problem
    split = split_name(normal, family_name)
    if isinstance(split, NamingProblem):
        return split
    surname, given = split
    surname_syl = _surname_syllables(surname)
    given_syl = _read(given)
    if len(surname_syl) != len(surname) or len(given_syl) != len(given):
        return _problem(f"name {name!r}: pinyin does not map one syllable per character", OVERRIDE_FIX)
    bad = [s for s in surname_syl + given_syl if not _SYLLABLE.fullmatch(s)]
    if bad:
        return _problem(f"name {name!r}: unexpected pinyin {bad}", OVERRIDE_FIX)
    umlaut = _UMLAUT[u_umlaut]
    surname_t = tuple(s.replace("ü", umlaut) for s in surname_syl)
    given_t = tuple(s.replace("ü", umlaut) for s in given_syl)
    return NameParts(
        surname="".join(surname_t),
        given="".join(given_t),
        surname_syllables=surname_t,
        given_syllables=given_t,
    )


def render_local_part(parts: NameParts, template: str, max_length: int) -> str | NamingProblem:
    """Fill `template` and clean the result into a local part base.

    Placeholders: {pinyin} (surname + given), {surname}, {given}, {initials}
    (first letter of every syllable), {given_initials} (first letter of each
    given-name syllable).  Then, in order: lower-case; drop every character
    outside [a-z0-9._-]; collapse runs of dots; strip leading and trailing
    ``.``/``_``/``-``; cut to ``max_length - SUFFIX_ROOM`` characters; strip
    trailing ``.``/``_``/``-`` again.  An unknown placeholder raises
    ValueError (the settings reject such templates); a max_length that leaves
    no room, or an empty result, is a NamingProblem.
    """
    used = _PLACEHOLDER.findall(template)
    unknown = sorted(set(used) - ALLOWED_PLACEHOLDERS)
    if not used or unknown:
        raise ValueError(f"template {template!r}: placeholders {unknown or '(none)'}; use {sorted(ALLOWED_PLACEHOLDERS)}")
    limit = max_length - SUFFIX_ROOM
    if limit < 1:
        return _problem(
            f"naming.max_length={max_length} leaves no room for a name after the {SUFFIX_ROOM} characters "
            "kept for the collision counter",
            f"set naming.max_length to at least {SUFFIX_ROOM + 1} (or {OVERRIDE_FIX})",
        )
    values = {
        "pinyin": parts.surname + parts.given,
        "surname": parts.surname,
        "given": parts.given,
        "initials": "".join(s[:1] for s in parts.surname_syllables + parts.given_syllables),
        "given_initials": "".join(s[:1] for s in parts.given_syllables),
    }
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template).lower()
    text = re.sub(r"[^a-z0-9._-]", "", text)
    text = re.sub(r"\.{2,}", ".", text).strip("._-")
    text = text[:limit].rstrip("._-")
    if not _LOCAL_PART.fullmatch(text):
        return _problem(
            f"template {template!r} gives no usable local part for {values['pinyin']!r}",
            f"change naming.template, or {OVERRIDE_FIX}",
        )
    return text


def choose_local_part(base: str, is_taken: Callable[[str], bool], *, max_counter: int = MAX_COUNTER) -> str:
    """`base` if free, else the first free of base2, base3, ... base{max_counter}.

    Deterministic: the same `base` and the same taken set always give the same
    answer.  `is_taken` must compare case-insensitively over the whole naming
    namespace (every mail domain, managed or not); that is the caller's
    contract.  Raises LocalPartsExhausted when all candidates are taken.
    """
    if not is_taken(base):
        return base
    for counter in range(2, max_counter + 1):
        candidate = f"{base}{counter}"
        if not is_taken(candidate):
            return candidate
    raise LocalPartsExhausted(f"{base!r} and {base}2 ... {base}{max_counter} are all taken")


def propose_local_part(
    name: str, family_name: str, template: str, u_umlaut: str, max_length: int
) -> str | NamingProblem:
    """`name_parts` then `render_local_part`: the base local part, before collisions."""
    parts = name_parts(name, family_name, u_umlaut)
    if isinstance(parts, NamingProblem):
        return parts
    return render_local_part(parts, template, max_length)
