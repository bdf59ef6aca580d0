"""The legacy OMS generator: every defect of the worked migration at its rate, totals that add
up, and the same data for the same seed. Each test seeds a database of its own: scale 10,000
(about a second) where rates are checked, a smaller one for determinism."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from harness.demo.seed import RATES, seed_legacy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = 10_000
SEED = 42

US = "('US', 'USA', 'U.S.A.', 'United States', 'us')"
VALID_EMAIL = r"'^[^@\s]+@[^@\s]+\.[^@\s]+$'"
CARD_METHODS = "('VISA', 'MC', 'MASTERCARD', 'AMEX')"

# ORDER_TOTAL read back as a number: symbols and codes dropped; euros use a decimal comma and a
# dot between thousands, the other currencies the other way round.
PARSED_TOTALS = r"""
    select
        h."ORDER_NO",
        h."ORDER_TOTAL",
        case
            when h."ORDER_TOTAL" = '' then null
            when h."CURR_CD" = 'EUR'
                then replace(replace(regexp_replace(h."ORDER_TOTAL", '[^0-9,.-]', '', 'g'), '.', ''), ',', '.')::numeric
            else replace(regexp_replace(h."ORDER_TOTAL", '[^0-9,.-]', '', 'g'), ',', '')::numeric
        end as total,
        s.line_sum
    from "oms"."ORDER_HDR" as h
    inner join (
        -- the documented line total: the price rounded to the cent, NULL discount = 0, half away from zero
        select "ORDER_NO",
               sum(round("QTY" * round("UNIT_PRICE"::numeric, 2) * (100 - coalesce("DISC_PCT", 0)) / 100, 2))
                   as line_sum
        from "oms"."ORDER_LINE"
        group by "ORDER_NO"
    ) as s on s."ORDER_NO" = h."ORDER_NO"
"""


@dataclass
class Share:
    """How many of the rows in scope have a defect, against the rate that RATES promises."""

    what: str
    rate: float
    query: str  # returns (rows with the defect, rows in scope)
    tolerance: float = 0.08  # of the expected count

    def problem(self, conn: psycopg.Connection) -> str | None:
        found, scope = conn.execute(self.query).fetchone()
        expected = self.rate * scope
        # Classes are drawn from an evenly spread sequence, so a share misses by a few rows at
        # most; a rare defect must still be there.
        tolerance = max(self.tolerance * expected, 4)
        if abs(found - expected) > tolerance or (self.rate > 0 and found == 0):
            return f"{self.what}: {found} of {scope} rows, expected {expected:.1f} (rate {self.rate})"
        return None


def share(what: str, rate: float, table: str, condition: str, scope: str = "true", tolerance: float = 0.08) -> Share:
    return Share(
        what,
        rate,
        f'select count(*) filter (where {condition}), count(*) from "oms"."{table}" as t where {scope}',
        tolerance,
    )


def classes(name: str, table: str, column: str, scope: str = "true") -> list[Share]:
    """One share per class of a RATES distribution whose labels are the stored values."""
    checks = []
    for label, rate in RATES[name].items():
        condition = f'"{column}" is null' if label is None else f'"{column}" = ' + sql.quote(label)
        checks.append(share(f"{name} {label!r}", rate, table, condition, scope))
    return checks


# A CREATED value: its shape, and the date it names when the calendar has that day.
CREATED_SHAPES = r"""
    create temp view created_parts as
    select
        "CUST_ID",
        "CREATED",
        "LAST_UPD",
        case
            when "CREATED" ~ '^\d{4}-\d{2}-\d{2}$' then 'iso'
            when "CREATED" ~ '^\d{2}/\d{2}/\d{4}$' then 'us'
            when "CREATED" ~ '^\d{8}$' then 'compact'
            when "CREATED" ~ '^\d{2}-[A-Z]{3}-\d{2}$' then 'dd_mon_yy'
            when "CREATED" = '' then 'empty'
            when "CREATED" is null then 'null'
        end as shape,
        case
            when "CREATED" ~ '^\d{4}-\d{2}-\d{2}$'
                then array[substr("CREATED", 1, 4), substr("CREATED", 6, 2), substr("CREATED", 9, 2)]::int[]
            when "CREATED" ~ '^\d{2}/\d{2}/\d{4}$'
                then array[substr("CREATED", 7, 4), substr("CREATED", 1, 2), substr("CREATED", 4, 2)]::int[]
            when "CREATED" ~ '^\d{8}$'
                then array[substr("CREATED", 1, 4), substr("CREATED", 5, 2), substr("CREATED", 7, 2)]::int[]
            when "CREATED" ~ '^\d{2}-[A-Z]{3}-\d{2}$' then array[
                2000 + substr("CREATED", 8, 2)::int,
                array_position(array['JAN','FEB','MAR','APR','MAY','JUN','JUL','AUG','SEP','OCT','NOV','DEC'],
                               substr("CREATED", 4, 3)),
                substr("CREATED", 1, 2)::int]
        end as ymd
    from "oms"."CUSTOMER";
    create temp view created_dates as
    select
        created_parts.*,
        ymd[3] > extract(day from make_date(ymd[1], ymd[2], 1) + interval '1 month - 1 day') as is_impossible
    from created_parts
"""


def customer_checks() -> list[Share]:
    email = RATES["customer.email"]
    checks = [
        share(
            "company names",
            RATES["customer.name_format"]["company"],
            "CUSTOMER",
            r""""CUST_NM" ~* ' (ltd\.?|inc\.|llc|corp|gmbh|co\.|& sons)$'""",
        ),
        share(
            "LAST, FIRST in capitals",
            RATES["customer.name_format"]["last_first_upper"],
            "CUSTOMER",
            """"CUST_NM" like '%, %' and "CUST_NM" !~ '[a-zà-ÿ]'""",
        ),
        share(
            "FIRST LAST in capitals",
            RATES["customer.name_format"]["first_last_upper"],
            "CUSTOMER",
            r"""position(',' in "CUST_NM") = 0 and "CUST_NM" !~ '[a-zà-ÿ]'
               and "CUST_NM" !~* ' (ltd\.?|inc\.|llc|corp|gmbh|co\.|& sons)$'""",
        ),
        share(
            "First Last",
            RATES["customer.name_format"]["first_last"],
            "CUSTOMER",
            r"""position(',' in "CUST_NM") = 0 and "CUST_NM" ~ '[a-z]'
               and "CUST_NM" !~* ' (ltd\.?|inc\.|llc|corp|gmbh|co\.|& sons)$'""",
        ),
        share("e-mail NULL", email["null"], "CUSTOMER", '"EMAIL_ADDR" is null'),
        share("e-mail invalid", email["invalid"], "CUSTOMER", f'btrim("EMAIL_ADDR") !~ {VALID_EMAIL}'),
        share("e-mail with blanks", RATES["customer.email_blanks"], "CUSTOMER", '"EMAIL_ADDR" <> btrim("EMAIL_ADDR")'),
        share(
            "e-mail not in lower case",
            1 - RATES["customer.email_case"]["lower"],
            "CUSTOMER",
            '"EMAIL_ADDR" <> lower("EMAIL_ADDR")',
            f'btrim("EMAIL_ADDR") ~ {VALID_EMAIL}',
        ),
        Share(
            "duplicate customers (the e-mail of an earlier customer)",
            RATES["customer.duplicate"],
            f"""
            select count(*) filter (where btrim("EMAIL_ADDR") ~ {VALID_EMAIL})
                       - count(distinct lower(btrim("EMAIL_ADDR"))) filter (where btrim("EMAIL_ADDR") ~ {VALID_EMAIL}),
                   count(*)
            from "oms"."CUSTOMER" """,
        ),
        share(
            "ZIP code that lost its leading zero",
            RATES["customer.postal_lost_zero"],
            "CUSTOMER",
            r""""POSTAL_CD" ~ '^\d{4}$'""",
            f'"CTRY" is null or "CTRY" in {US}',
        ),
        share(
            "ZIP+4",
            RATES["customer.postal_zip4"] * (1 - RATES["customer.postal_lost_zero"]),
            "CUSTOMER",
            r""""POSTAL_CD" ~ '^\d{5}-\d{4}$'""",
            f'"CTRY" is null or "CTRY" in {US}',
        ),
        share("STATUS NULL", RATES["customer.status_defect"]["null"], "CUSTOMER", '"STATUS" is null'),
        share(
            "STATUS in lower case",
            RATES["customer.status_defect"]["lower"],
            "CUSTOMER",
            "\"STATUS\" in ('a', 'i', 'x')",
        ),
        share(
            "LAST_UPD NULL among rows last written before 2012",
            RATES["customer.last_upd_null"],
            "CUSTOMER",
            '"LAST_UPD" is null',
            '"LAST_UPD" is null or "LAST_UPD" < \'2012-01-01\'',
        ),
        *classes("customer.country", "CUSTOMER", "CTRY"),
    ]
    nanp, intl = RATES["customer.phone_nanp"], RATES["customer.phone_intl"]
    north_america = f'"CTRY" is null or "CTRY" in {US} or "CTRY" in (\'CA\', \'Canada\')'
    europe = "\"CTRY\" in ('GB', 'UK', 'United Kingdom', 'DE', 'Germany')"
    checks += [
        share("North American phone ''", nanp["empty"], "CUSTOMER", "\"PHONE\" = ''", north_america),
        share("North American phone NULL", nanp["null"], "CUSTOMER", '"PHONE" is null', north_america),
        share(
            "phone (555) 123-4567",
            nanp["parentheses"],
            "CUSTOMER",
            r""""PHONE" ~ '^\(\d{3}\) \d{3}-\d{4}$'""",
            north_america,
        ),
        share("phone 555.123.4567", nanp["dots"], "CUSTOMER", r""""PHONE" ~ '^\d{3}\.\d{3}\.\d{4}$'""", north_america),
        share(
            "phone +1 555 123 4567",
            nanp["plus_one"],
            "CUSTOMER",
            r""""PHONE" ~ '^\+1 \d{3} \d{3} \d{4}$'""",
            north_america,
        ),
        share("phone 555-123-4567", nanp["dashes"], "CUSTOMER", r""""PHONE" ~ '^\d{3}-\d{3}-\d{4}$'""", north_america),
        share("phone 5551234567", nanp["digits"], "CUSTOMER", r""""PHONE" ~ '^\d{10}$'""", north_america),
        share(
            "phone 5551234567 ext. 12",
            nanp["extension"],
            "CUSTOMER",
            r""""PHONE" ~ '^\d{10} ext\. \d+$'""",
            north_america,
        ),
        share(
            "phone without area code", nanp["local_only"], "CUSTOMER", r""""PHONE" ~ '^\d{3}-\d{4}$'""", north_america
        ),
        share("European phone ''", intl["empty"], "CUSTOMER", "\"PHONE\" = ''", europe),
        share(
            "European phone written internationally",
            intl["international"] + intl["international_zero"],
            "CUSTOMER",
            r""""PHONE" ~ '^\+4[49] '""",
            europe,
        ),
        share("European phone written nationally", intl["national"], "CUSTOMER", r""""PHONE" ~ '^0\d'""", europe),
    ]
    created = RATES["customer.created_format"]
    for shape in ("iso", "us", "compact", "dd_mon_yy", "empty", "null"):
        checks.append(
            Share(
                f"CREATED {shape}",
                created[shape],
                f"select count(*) filter (where shape = '{shape}'), count(*) from created_dates",
            )
        )
    checks.append(
        Share(
            "CREATED impossible date",
            RATES["customer.created_impossible"],
            "select count(*) filter (where is_impossible), count(*) from created_dates",
        )
    )
    return checks


def product_checks() -> list[Share]:
    return [
        Share(
            "SKU twins (same SKU but for case and trailing blanks)",
            RATES["product.sku_twin"],
            'select count(*) - count(distinct upper(rtrim("SKU"))), count(*) from "oms"."PRODUCT"',
        ),
        share("CAT_PATH NULL", RATES["product.cat_path"][None], "PRODUCT", '"CAT_PATH" is null'),
        share(
            "CAT_PATH with /",
            RATES["product.cat_path"]["/"] + RATES["product.cat_path"][" / "],
            "PRODUCT",
            "\"CAT_PATH\" like '%/%'",
        ),
        share(
            "CAT_PATH with extra blanks", RATES["product.cat_path"]["  >  "], "PRODUCT", "\"CAT_PATH\" like '%  >  %'"
        ),
        share("CAT_PATH with > and no blanks", RATES["product.cat_path"][">"], "PRODUCT", "\"CAT_PATH\" ~ '[^ ]>[^ ]'"),
        share(
            "PRICE a hair off the cent",
            1 - RATES["product.price_float"]["exact"],
            "PRODUCT",
            'abs("PRICE" * 100 - round("PRICE" * 100)) > 1e-9',
        ),
        *classes("product.active", "PRODUCT", "ACTIVE"),
        share(
            "LAST_UPD NULL among rows last written before 2012",
            RATES["product.last_upd_null"],
            "PRODUCT",
            '"LAST_UPD" is null',
            '"LAST_UPD" is null or "LAST_UPD" < \'2012-01-01\'',
        ),
    ]


def order_checks() -> list[Share]:
    customer = RATES["order.customer"]
    known_codes = "('NEW', 'OPEN', 'SHP', 'SHIPPED', 'CXL', 'CANCEL', 'RTN')"
    total = RATES["order.total"]
    return [
        share("CUST_ID NULL", customer["null"], "ORDER_HDR", '"CUST_ID" is null'),
        share(
            "CUST_ID of a missing customer",
            customer["missing"],
            "ORDER_HDR",
            'not exists (select 1 from "oms"."CUSTOMER" as c where c."CUST_ID" = t."CUST_ID") '
            'and "CUST_ID" is not null',
        ),
        share(
            "ORDER_DT inside the spring-forward gap",
            RATES["order.placed_special"]["spring_gap"],
            "ORDER_HDR",
            "(\"ORDER_DT\" at time zone 'America/New_York') at time zone 'America/New_York' <> \"ORDER_DT\"",
        ),
        share(
            "STATUS_CD unknown",
            RATES["order.status"]["unknown"],
            "ORDER_HDR",
            f'upper("STATUS_CD") not in {known_codes}',
        ),
        share("STATUS_CD in lower case", RATES["order.status_lower"], "ORDER_HDR", '"STATUS_CD" <> upper("STATUS_CD")'),
        *[
            share(
                f"STATUS_CD {code}",
                rate * (1 - RATES["order.status_lower"] / (1 - RATES["order.status"]["unknown"])),
                "ORDER_HDR",
                f"\"STATUS_CD\" = '{code}'",
            )
            for code, rate in RATES["order.status"].items()
            if code != "unknown"
        ],
        share("ORDER_TOTAL ''", total["empty"], "ORDER_HDR", "\"ORDER_TOTAL\" = ''"),
        Share(
            "ORDER_TOTAL disagreeing with the lines",
            total["disagree"] / (1 - total["empty"]),
            f"select count(*) filter (where abs(total - line_sum) > 0.01), count(total) from ({PARSED_TOTALS}) as p",
        ),
        *classes("order.currency", "ORDER_HDR", "CURR_CD"),
        share("NOTES NULL", RATES["order.notes"][None], "ORDER_HDR", '"NOTES" is null'),
        share("NOTES over 64 KiB", RATES["order.notes_huge"], "ORDER_HDR", 'octet_length("NOTES") > 65536'),
        share(
            "ship to the customer's own city and postal code",
            RATES["order.ship_address"]["customer"] * customer["known"],
            "ORDER_HDR",
            """exists (select 1 from "oms"."CUSTOMER" as c where c."CUST_ID" = t."CUST_ID"
                         and upper(btrim(regexp_replace(c."CITY", '\\s+', ' ', 'g')))
                             = upper(btrim(regexp_replace(t."SHIP_CITY", '\\s+', ' ', 'g')))
                         and c."POSTAL_CD" = t."SHIP_POSTAL")""",
        ),
        share(
            "LAST_UPD NULL among rows last written before 2012",
            RATES["order.last_upd_null"],
            "ORDER_HDR",
            '"LAST_UPD" is null',
            '"LAST_UPD" is null or "LAST_UPD" < \'2012-01-01\'',
        ),
    ]


def line_checks() -> list[Share]:
    sku, qty = RATES["line.sku"], RATES["line.qty"]
    return [
        Share(
            "SKU unknown",
            sku["unknown"],
            """
            select count(*) filter (where p.sku is null), count(*)
            from "oms"."ORDER_LINE" as t
            left join (select distinct upper(btrim("SKU")) as sku from "oms"."PRODUCT") as p
                on p.sku = upper(btrim(t."SKU"))""",
        ),
        share("SKU in lower case", sku["lower"], "ORDER_LINE", """"SKU" = lower("SKU") and "SKU" not like 'ZZ-%'"""),
        share("SKU with a trailing blank", sku["trailing_blank"], "ORDER_LINE", "\"SKU\" like '% '"),
        share("SKU with a leading blank", sku["leading_blank"], "ORDER_LINE", "\"SKU\" like ' %'"),
        share("QTY negative", qty["negative"], "ORDER_LINE", '"QTY" < 0'),
        share("QTY zero", qty["zero"], "ORDER_LINE", '"QTY" = 0'),
        share(
            "UNIT_PRICE a hair off the cent",
            1 - RATES["line.unit_price_float"]["exact"],
            "ORDER_LINE",
            'abs("UNIT_PRICE" * 100 - round("UNIT_PRICE" * 100)) > 1e-9',
        ),
        share("DISC_PCT NULL", RATES["line.disc_pct"][None], "ORDER_LINE", '"DISC_PCT" is null'),
        # not a rate of the spec: one line or more for each unknown order of the payments
        share(
            "lines of an unknown order",
            RATES["payment.unknown_order"],
            "ORDER_LINE",
            'not exists (select 1 from "oms"."ORDER_HDR" as h where h."ORDER_NO" = t."ORDER_NO")',
            tolerance=0.25,
        ),
        share(
            "LAST_UPD NULL among rows last written before 2012",
            RATES["line.last_upd_null"],
            "ORDER_LINE",
            '"LAST_UPD" is null',
            '"LAST_UPD" is null or "LAST_UPD" < \'2012-01-01\'',
        ),
    ]


def payment_checks() -> list[Share]:
    return [
        share(
            "payments of an unknown order",
            RATES["payment.unknown_order"],
            "PAYMENT",
            'not exists (select 1 from "oms"."ORDER_HDR" as h where h."ORDER_NO" = t."ORDER_NO")',
        ),
        *classes("payment.method", "PAYMENT", "METHOD"),
        share("CARD_NO last four digits", RATES["payment.card_last4"], "PAYMENT", r""""CARD_NO" ~ '^\d{4}$'"""),
        share(
            "CARD_NO full",
            RATES["payment.card_full"],
            "PAYMENT",
            r"""length(regexp_replace("CARD_NO", '\D', '', 'g')) >= 13""",
        ),
        share(
            "CARD_NO NULL", 1 - RATES["payment.card_last4"] - RATES["payment.card_full"], "PAYMENT", '"CARD_NO" is null'
        ),
        share(
            "LAST_UPD NULL among rows last written before 2012",
            RATES["payment.last_upd_null"],
            "PAYMENT",
            '"LAST_UPD" is null',
            '"LAST_UPD" is null or "LAST_UPD" < \'2012-01-01\'',
        ),
    ]


def seeded(url: str, seed: int = SEED, scale: int = SCALE) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = seed_legacy(conn, scale, seed)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze")  # the checks join large tables
    return counts


def scalar(conn: psycopg.Connection, query: str):
    return conn.execute(query).fetchone()[0]


def test_every_defect_appears_at_its_rate_and_the_tables_at_theirs(database_url):
    reported: list[tuple[str, int]] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        counts = seed_legacy(conn, SCALE, SEED, lambda table, rows: reported.append((table, rows)))
        conn.execute("analyze")
        conn.execute(CREATED_SHAPES)
        checks = customer_checks() + product_checks() + order_checks() + line_checks() + payment_checks()
        problems = [problem for check in checks if (problem := check.problem(conn))]
        actual = {table: scalar(conn, f'select count(*) from "oms"."{table}"') for table in counts}
        keys = scalar(
            conn, "select count(*) from pg_constraint where connamespace = 'oms'::regnamespace and contype = 'p'"
        )
    assert not problems, "\n".join(problems)
    assert reported == list(counts.items()) and actual == counts, "progress after each table, with its rows"
    assert counts["CUSTOMER"] == SCALE and counts["PRODUCT"] == 200
    assert counts["ORDER_HDR"] == pytest.approx(3 * SCALE, rel=0.01)
    assert counts["ORDER_LINE"] == pytest.approx(9 * SCALE, rel=0.01)
    assert counts["PAYMENT"] == pytest.approx(3 * SCALE, rel=0.01)
    assert keys == 5, "every table gets its primary key back"


def test_rare_defects_are_all_there_and_the_money_adds_up(database_url):
    seeded(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute(CREATED_SHAPES)
        # the repeated 01:00-01:59 of every autumn changeover of the history
        autumns = scalar(
            conn,
            """
            select count(distinct extract(year from "ORDER_DT")) from "oms"."ORDER_HDR"
            where extract(month from "ORDER_DT") = 11 and extract(dow from "ORDER_DT") = 0
              and extract(day from "ORDER_DT") <= 7
              and extract(hour from "ORDER_DT") = 1""",
        )
        assert autumns == 2024 - 2009 + 1
        assert (
            scalar(
                conn,
                "select count(*) from created_dates where is_impossible "
                "and \"CREATED\" ~ '(02-3[01]|02/3[01]/|0230|0231|FEB)'",
            )
            > 0
        )
        assert scalar(conn, 'select count(*) from created_dates where "LAST_UPD" is null and ymd[1] >= 2012') == 0, (
            "only rows written before 2012 lose LAST_UPD"
        )
        notes = scalar(
            conn,
            r"""
            select array[bool_or("NOTES" like E'%\n%'), bool_or("NOTES" like E'%\t%'), bool_or("NOTES" like '%"%'),
                         bool_or("NOTES" like '%\\%'), bool_or("NOTES" like '%CafÃ©%'),
                         bool_or("NOTES" ~ '[\U0001F300-\U0001FAFF]'),
                         bool_or("NOTES" = ''), bool_or("NOTES" is null)]
            from "oms"."ORDER_HDR" """,
        )
        assert notes == [True] * 8, "newline, tab, quote, backslash, mojibake, emoji, '' and NULL notes"
        formats = scalar(
            conn,
            r"""
            select array[bool_or("ORDER_TOTAL" ~ '^-?\$\d{1,3}(,\d{3})*\.\d{2}$'),
                         bool_or("ORDER_TOTAL" ~ '^-?\d+\.\d$'),
                         bool_or("ORDER_TOTAL" ~ '^-?\d+\.\d{2} USD$'),
                         bool_or("ORDER_TOTAL" ~ '^-?€\d{1,3}(\.\d{3})*,\d{2}$'),
                         bool_or("ORDER_TOTAL" ~ '^-?\d+,\d{2} EUR$'),
                         bool_or("ORDER_TOTAL" ~ '^-?£'),
                         bool_or("ORDER_TOTAL" ~ '^-?C\$')]
            from "oms"."ORDER_HDR" """,
        )
        assert formats == [True] * 7, "$1,234.50, 1234.5, 1234.50 USD, €1.234,50, 1234,50 EUR, £ and C$ totals"
        assert scalar(conn, """select count(*) from "oms"."ORDER_HDR" where "SHIP_ADDR1" ~ '  '""") > 0, (
            "ship addresses with doubled blanks"
        )
        assert (
            scalar(
                conn,
                """select count(*) from "oms"."ORDER_LINE" as l
                               join (select distinct upper(btrim("SKU")) as sku from "oms"."PRODUCT") as p
                                   on p.sku = upper(btrim(l."SKU"))
                               where not exists (select 1 from "oms"."PRODUCT" as exact where exact."SKU" = l."SKU")""",
            )
            > 0
        ), "lines name a product by a case or blank variant of its SKU"
        orphan_lines = scalar(
            conn,
            """
            select count(*) from "oms"."ORDER_LINE" as l join "oms"."ORDER_HDR" as h using ("ORDER_NO")
            where not exists (select 1 from "oms"."CUSTOMER" as c where c."CUST_ID" = h."CUST_ID")""",
        )
        assert orphan_lines > 0, "lines of orphan orders"
        assert scalar(conn, 'select max("CUST_ID") - min("CUST_ID") + 1 - count(*) from "oms"."CUSTOMER"') > 0, (
            "CUST_ID has gaps"
        )

        # A duplicate has the e-mail of an earlier customer (ignoring case and blanks), a later
        # CUST_ID and the same name in other words.
        words = (
            "array(select w from regexp_split_to_table(upper(replace({}.\"CUST_NM\", ',', '')), ' ') as w order by w)"
        )
        pairs = conn.execute(rf"""
            with emails as (
                select "CUST_ID", lower(btrim("EMAIL_ADDR")) as email from "oms"."CUSTOMER"
                where btrim("EMAIL_ADDR") ~ {VALID_EMAIL}
            )
            select {words.format("dc")} = {words.format("oc")}
            from emails as d
            join emails as o on o.email = d.email and o."CUST_ID" < d."CUST_ID"
            join "oms"."CUSTOMER" as dc on dc."CUST_ID" = d."CUST_ID"
            join "oms"."CUSTOMER" as oc on oc."CUST_ID" = o."CUST_ID"
        """).fetchall()
        assert len(pairs) >= 0.9 * RATES["customer.duplicate"] * SCALE and all(same for (same,) in pairs)

        # ORDER_TOTAL is '' or a number; apart from the planted disagreements it is the line sum.
        agree, parseable, blank = conn.execute(f"""
            select count(*) filter (where total = line_sum), count(total), count(*) filter (where "ORDER_TOTAL" = '')
            from ({PARSED_TOTALS}) as p""").fetchone()
        assert blank + parseable == scalar(conn, 'select count(*) from "oms"."ORDER_HDR"')
        assert agree / parseable == pytest.approx(
            1 - RATES["order.total"]["disagree"] / (1 - RATES["order.total"]["empty"]), abs=0.002
        )
        # The payments of a known order add up to its line sum, in the order's currency.
        assert (
            scalar(
                conn,
                f"""
            select count(*) from ({PARSED_TOTALS}) as p
            join (select "ORDER_NO", sum("AMOUNT") as paid from "oms"."PAYMENT" group by "ORDER_NO") as pay
                using ("ORDER_NO")
            where pay.paid <> p.line_sum""",
            )
            == 0
        )
        luhn_failures = scalar(
            conn,
            r"""
            select count(*) from (
                select regexp_replace("CARD_NO", '\D', '', 'g') as digits from "oms"."PAYMENT"
                where length(regexp_replace("CARD_NO", '\D', '', 'g')) >= 13
            ) as cards
            where (select sum(case when i % 2 = 1 then d * 2 - 9 * (d / 5) else d end)
                   from (select i, substr(reverse(digits), i + 1, 1)::int as d
                         from generate_series(0, length(digits) - 1) as i) as x) % 10 <> 0""",
        )
        assert luhn_failures == 0, "full card numbers are Luhn-valid"
        assert (
            scalar(
                conn,
                r"""select count(*) from "oms"."PAYMENT" where length(regexp_replace("CARD_NO", '\D', '', 'g')) >= 13
                                and ("PAID_AT" >= '2012-01-01' or "METHOD" not in """
                + CARD_METHODS
                + ")",
            )
            == 0
        ), "full card numbers only for cards paid in 2009-2011"


def checksums(url: str) -> dict[str, str]:
    keys = {
        "CUSTOMER": '"CUST_ID"',
        "PRODUCT": '"SKU"',
        "ORDER_HDR": '"ORDER_NO"',
        "ORDER_LINE": '"ORDER_NO", "LINE_NO"',
        "PAYMENT": '"PAY_ID"',
    }
    with psycopg.connect(url) as conn:
        return {
            table: scalar(conn, f'select md5(string_agg(t::text, \'|\' order by {key})) from "oms"."{table}" as t')
            for table, key in keys.items()
        }


def test_same_seed_gives_the_same_data_and_another_seed_other_data(database_url):
    # Determinism does not depend on the scale: a small one keeps the test short.
    seeded(database_url, seed=7, scale=2_000)
    first = checksums(database_url)
    seeded(database_url, seed=7, scale=2_000)
    assert checksums(database_url) == first
    seeded(database_url, seed=8, scale=2_000)
    other = checksums(database_url)
    assert all(other[table] != first[table] for table in first)


def test_scale_below_one_is_refused(database_url):
    with psycopg.connect(database_url) as conn, pytest.raises(ValueError, match="at least 1"):
        seed_legacy(conn, 0, SEED)
