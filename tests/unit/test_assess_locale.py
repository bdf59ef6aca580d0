"""assess names each difference of server version, encoding and default locale between source and
target as a finding that says what follows from it."""

from harness.assess import INFO, WARNING, database_findings
from harness.engines.postgres import DatabaseOptions
from harness.engines.postgres.assess import DatabaseLocale

BYTES_ORDER = ("-1", "10", "9", "B", "Z", "_x", "a", "a b", "ab", "b")
ENGLISH_ORDER = ("_x", "-1", "10", "9", "a", "a b", "ab", "b", "B", "Z")
UTF8_C = DatabaseOptions("UTF8", "C.UTF-8", "C.UTF-8", "libc")


def locale(options: DatabaseOptions = UTF8_C, order: tuple = BYTES_ORDER, version: str = "15.4") -> DatabaseLocale:
    return DatabaseLocale(version, int(version.split(".")[0]), options, order)


def test_a_target_like_its_source_has_no_finding():
    assert database_findings(locale(), locale()) == []


def test_another_encoding_says_text_is_converted():
    (finding,) = database_findings(
        locale(DatabaseOptions("LATIN1", "C", "C", "libc")), locale(DatabaseOptions("UTF8", "C", "C", "libc"))
    )
    assert (finding.severity, finding.area) == (WARNING, "settings")
    assert "encoded LATIN1, the target UTF8" in finding.message and "converted" in finding.message
    assert "target.database_options" in finding.fix


def test_another_collation_shows_how_the_same_words_sort_on_each_side():
    icu = DatabaseOptions("UTF8", "C.UTF-8", "C.UTF-8", "icu", icu_locale="en")
    (finding,) = database_findings(locale(), locale(icu, ENGLISH_ORDER))
    assert finding.severity == WARNING
    assert (
        "locale_provider libc on the source, icu on the target; icu_locale unset on the source, en on the target"
        in finding.message
    )
    assert "-1 < 10 < 9 < B < Z < _x < a < a b < ab < b on the source" in finding.message
    assert "_x < -1 < 10 < 9 < a < a b < ab < b < B < Z on the target" in finding.message
    assert "order by" in finding.message


def test_a_collation_that_sorts_the_sample_alike_is_only_noted():
    (finding,) = database_findings(locale(DatabaseOptions("UTF8", "C", "C", "libc")), locale())
    assert finding.severity == INFO and "beyond plain ASCII" in finding.message and "upper, lower" in finding.message


def test_another_server_version_says_which_way():
    (newer,) = database_findings(locale(version="15.4"), locale(version="16.2"))
    assert newer.severity == INFO and "PostgreSQL 15.4, the target 16.2" in newer.message
    (older,) = database_findings(locale(version="16.2"), locale(version="15.4"))
    assert older.severity == WARNING and "cannot be restored" in older.message
