"""Pattern classes, card numbers and name heuristics of the profile (the SQL mirrors these)."""

import pytest

from harness.assess.names import (
    creation_date_rank,
    is_money_name,
    names_suggest_reference,
)
from harness.profiling import classify, is_card_number, luhn_valid, mask_card_numbers


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2011-02-28", "date_iso"),
        ("2011-02-30", "date_iso"),  # the class is the shape; impossible dates are counted apart
        ("2011-02-28 13:45:10", "datetime_iso"),
        ("02/28/2011", "date_us"),
        ("2/8/2011", "date_us"),
        ("20110228", "date_compact"),
        ("28-FEB-11", "date_dmon"),
        ("28-feb-2011", "date_dmon"),
        ("4111 1111 1111 1111", "card_number"),
        ("5500-0000-0000-0004", "card_number"),
        ("John.Doe@Example.COM", "email"),
        ("john.doe@", "other"),
        ("1234.5", "number"),
        ("-17", "number"),
        ("$1,234.50", "formatted_number"),
        ("1234.50 USD", "formatted_number"),
        ("€99,00", "formatted_number"),
        ("n/a", "other"),
        ("", "blank"),
        ("   ", "blank"),
        ("\t", "other"),  # only spaces are trimmed, as in PostgreSQL's btrim
        (None, None),
    ],
)
def test_values_fall_in_one_pattern_class(value, expected):
    assert classify(value) == expected


def test_a_sixteen_digit_number_failing_luhn_is_just_a_number():
    assert classify("4111111111111112") == "number"


def test_yyyymmdd_needs_a_plausible_month_and_day():
    assert classify("20111399") == "number"


@pytest.mark.parametrize(
    "digits, valid",
    [
        ("4111111111111111", True),
        ("340000000000009", True),
        ("4111111111111112", False),
        ("79927398713", True),
        ("12a4", False),
    ],
)
def test_luhn(digits, valid):
    assert luhn_valid(digits) is valid


def test_card_numbers_need_13_to_19_digits():
    assert is_card_number("4222222222222")  # 13 digits, Luhn-valid
    assert not is_card_number("1234")


def test_card_numbers_are_masked_to_their_last_four_digits_anywhere_in_a_text():
    text = "paid with 4111-1111-1111-1111, ref 4111111111111112, card 5500 0000 0000 0004."
    masked = mask_card_numbers(text)
    assert "4111-1111-1111-1111" not in masked and "5500 0000 0000 0004" not in masked
    assert "************1111" in masked and "************0004" in masked
    assert "4111111111111112" in masked  # not Luhn-valid: an identifier, left alone


@pytest.mark.parametrize(
    "column, parent, key, expected",
    [
        ("CUST_ID", "CUSTOMER", "CUST_ID", True),
        ("customerId", "Customers", "id", True),
        ("customer_id", "customers", "id", True),
        ("product_sku", "product", "sku", True),
        ("id", "orders", "id", False),  # two generic ids prove nothing
        ("ORDER_NO", "ORDER_HDR", "ORDER_NO", True),
        ("QTY", "CUSTOMER", "CUST_ID", False),
    ],
)
def test_names_suggest_references(column, parent, key, expected):
    assert names_suggest_reference(column, parent, key) is expected


@pytest.mark.parametrize(
    "name, money",
    [("UNIT_PRICE", True), ("orderTotal", True), ("AMOUNT", True), ("PAY_ID", False), ("DISC_PCT", False)],
)
def test_money_names(name, money):
    assert is_money_name(name) is money


def test_creation_columns_rank_before_other_dates_and_update_stamps_never_count():
    assert creation_date_rank("CREATED", typed=False) < creation_date_rank("ORDER_DT", typed=True) + 3
    assert creation_date_rank("created_at", typed=True) < creation_date_rank("ORDER_DT", typed=True)
    assert creation_date_rank("LAST_UPD", typed=True) is None
    assert creation_date_rank("birth_date", typed=True) is None
