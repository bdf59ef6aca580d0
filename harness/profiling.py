"""The pure logic behind the data-quality profile: pattern classes, card numbers, error bounds.

Nothing here talks to a database. The pattern regexes are written in the subset that Python's
`re` and PostgreSQL's regular expressions read the same way, so the SQL that classifies values
inside the database (engines/postgres/assess.py) and `classify` below agree, and the unit tests
of `classify` vouch for the SQL too. It stays outside harness/assess/ because the engine's SQL
(pattern classes, sample plans) and harness/render (card numbers masked in every report) use it
too; the column-name heuristics, which only the assessment weighs, are in assess/names.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# --- pattern classes --------------------------------------------------------------------------


@dataclass(frozen=True)
class PatternClass:
    key: str
    label: str
    regex: str
    ignore_case: bool = False
    kind: str = "text"  # "date", "number", "email", "sensitive" or "text": what the class suggests


MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
# $, € and £ as regex escapes (which Python and PostgreSQL read alike): the pattern's own text stays
# ASCII, which a database of any encoding accepts (€ is not in LATIN1, for one).
CURRENCY_SIGNS = r"$\u20ac\u00a3"

# Checked in this order on the trimmed value; the first match wins, so each value has one class.
PATTERN_CLASSES: tuple[PatternClass, ...] = (
    PatternClass("date_iso", "YYYY-MM-DD", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", kind="date"),
    PatternClass(
        "datetime_iso",
        "YYYY-MM-DD hh:mm[:ss]",
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?$",
        kind="date",
    ),
    PatternClass("date_us", "MM/DD/YYYY", r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$", kind="date"),
    PatternClass("date_compact", "YYYYMMDD", r"^(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$", kind="date"),
    PatternClass(
        "date_dmon", "DD-MON-YY", rf"^[0-9]{{1,2}}-({MONTHS})-[0-9]{{2}}([0-9]{{2}})?$", ignore_case=True, kind="date"
    ),
    # Card numbers are recognised on the digits alone (spaces and dashes removed) plus Luhn; see card_digits.
    PatternClass("card_number", "card number (13-19 digits, Luhn-valid)", r"^[0-9]{13,19}$", kind="sensitive"),
    PatternClass("email", "e-mail", r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$", kind="email"),
    PatternClass("number", "number", r"^[+-]?[0-9]+(\.[0-9]+)?$", kind="number"),
    PatternClass(
        "formatted_number",
        "formatted number ($1,234.50, 99,00 EUR)",
        rf"^[{CURRENCY_SIGNS}]?\s?[+-]?[0-9][0-9,. ]*\s?([A-Za-z]{{3}}|[{CURRENCY_SIGNS}])?$",
        kind="number",
    ),
)
OTHER = "other"
BLANK = "blank"
CARD_SEPARATORS = r"[ -]"
CLASS_LABELS = {c.key: c.label for c in PATTERN_CLASSES} | {OTHER: "other text", BLANK: "blank"}
CLASS_KINDS = {c.key: c.kind for c in PATTERN_CLASSES}


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum card numbers carry; from the right, every second digit is doubled."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits), start=1):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit >= 5 else digit * 2
        total += digit
    return total % 10 == 0


def card_digits(value: str) -> str:
    return re.sub(CARD_SEPARATORS, "", value)


def is_card_number(value: str) -> bool:
    digits = card_digits(value.strip(" "))
    return re.fullmatch(r"[0-9]{13,19}", digits) is not None and luhn_valid(digits)


def classify(value: str | None) -> str | None:
    """The pattern class of one value, as the profile's SQL computes it (None for NULL)."""
    if value is None:
        return None
    trimmed = value.strip(" ")  # spaces only, as PostgreSQL's btrim: a tab makes a value "other" in both
    if trimmed == "":
        return BLANK
    for pattern in PATTERN_CLASSES:
        if pattern.key == "card_number":
            if is_card_number(trimmed):
                return pattern.key
            continue
        flags = re.IGNORECASE if pattern.ignore_case else 0
        # fullmatch: Python's "$" would also match before a final newline, PostgreSQL's does not.
        if re.fullmatch(pattern.regex, trimmed, flags):
            return pattern.key
    return OTHER


# Runs of 13-19 digits, possibly split by single spaces or dashes, anywhere in a text.
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


def mask_card_numbers(text: str) -> str:
    """Replace every Luhn-valid 13-19 digit run by stars and its last four digits."""

    def mask(match: re.Match) -> str:
        digits = card_digits(match.group(0))
        if not luhn_valid(digits):
            return match.group(0)
        return "*" * (len(digits) - 4) + digits[-4:]

    return _DIGIT_RUN.sub(mask, text)


# --- error bounds -----------------------------------------------------------------------------

Z95 = 1.959964


def finite_population_correction(sample: int, population: int) -> float:
    if population <= 1 or sample >= population:
        return 0.0
    return math.sqrt((population - sample) / (population - 1))


def proportion_margin(successes: int, sample: int, population: int, z: float = Z95) -> float:
    """Half-width of the 95% interval of a proportion seen in a simple random sample.

    Wilson's score interval (it stays honest at 0% and 100%, where the textbook formula claims
    a margin of zero), narrowed by the finite-population correction; 0 when every row was read.
    """
    if sample <= 0:
        return 1.0
    fpc = finite_population_correction(sample, population)
    if fpc == 0.0:
        return 0.0
    p = successes / sample
    denominator = 1 + z * z / sample
    centre = (p + z * z / (2 * sample)) / denominator
    half = z * math.sqrt(p * (1 - p) / sample + z * z / (4 * sample * sample)) / denominator
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return max(p - low, high - p) * fpc


@dataclass(frozen=True)
class SamplePlan:
    """How a table is read for the profile: every row, or a random sample of about `target` rows."""

    method: str  # "full", "bernoulli" or "system"
    percent: float  # of the table's rows (100 for full)
    expected_rows: int

    @property
    def sampled(self) -> bool:
        return self.method != "full"


# Above this many bytes a row-level (BERNOULLI) sample would still read every page; page-level
# (SYSTEM) sampling reads only the chosen pages, at the price of rows clustered by page.
SYSTEM_SAMPLE_BYTES = 2 * 1024**3


def sample_plan(rows: int, table_bytes: int, target: int) -> SamplePlan:
    """Every row up to 1.5 × target (or when target is 0), else a sample of about target rows."""
    if target <= 0 or rows <= target * 1.5:
        return SamplePlan("full", 100.0, rows)
    percent = min(100.0, 100.0 * target / rows)
    method = "system" if table_bytes > SYSTEM_SAMPLE_BYTES else "bernoulli"
    return SamplePlan(method, percent, target)


def share(part: int | float, whole: int | float) -> float:
    return part / whole if whole else 0.0
