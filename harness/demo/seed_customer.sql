-- CUSTOMER: customer numbers i = 1..N, created in that order, evenly over the history.
-- A duplicate is a later customer who carries the identity (name and e-mail) of an earlier
-- one, at least a day older. Each step ends in "offset 0" so that what it computes is
-- computed once (see seed_functions.sql).
insert into "oms"."CUSTOMER" (
    "CUST_ID", "CUST_NM", "EMAIL_ADDR", "PHONE", "ADDR1", "ADDR2", "CITY", "STATE_CD", "POSTAL_CD", "CTRY",
    "CREATED", "STATUS", "LAST_UPD"
)
with

numbered as (
    select
        i::bigint as i,
        pg_temp.draw('customer.email', i) as email_class,
        pg_temp.flag('customer.duplicate', i) as is_duplicate_candidate,
        1 + floor(pg_temp.rnd(i, 'customer.duplicate_of') * (i - pg_temp.param('customer.duplicate_min_distance')))::bigint as original,
        -- The country decides which phone and postal formats a customer can have, and those are
        -- drawn among the customers of a country. So the country is drawn by the rank of a hash:
        -- exact shares like the other classes, but members scattered at random, which keeps the
        -- shares of the formats drawn within a country exact too.
        (row_number() over (order by pg_temp.rnd(i, 'customer.country'), i) - 0.5) / pg_temp.param('count.customers') as country_u
    from generate_series(1, pg_temp.param('count.customers')::bigint) as i
    offset 0
),

-- Only a customer with a valid e-mail becomes a duplicate, and only of a customer with a valid
-- e-mail who is not a duplicate candidate himself: the group shares one address.
identities as (
    select
        i,
        email_class,
        is_duplicate,
        case when is_duplicate then original else i end as identity,
        country_spelling,
        pg_temp.country_iso(country_spelling) as iso
    from (
        select
            numbered.*,
            is_duplicate_candidate and email_class = 'valid' and original >= 1
                and pg_temp.draw('customer.email', original) = 'valid'
                and not pg_temp.flag('customer.duplicate', original) as is_duplicate,
            pg_temp.pick_class('customer.country', country_u) as country_spelling
        from numbered
    ) as candidates
    offset 0
),

-- Phone and postal formats are drawn among the customers of a country group, numbered within
-- it, so that their shares within the group are exact.
grouped as (
    select
        identities.*,
        row_number() over (partition by iso in ('US', 'CA') order by i) as phone_no,
        row_number() over (partition by iso = 'US' order by i) as postal_no
    from identities
    order by i  -- rows go in in CUST_ID order, as the legacy application wrote them
    offset 0
),

drawn as (
    select
        i,
        email_class,
        is_duplicate,
        identity,
        country_spelling,
        iso,
        phone_no,
        postal_no,
        pg_temp.draw('customer.name_format', identity) = 'company' as is_company,
        pg_temp.draw('customer.name_format', i) as own_name_format,
        pg_temp.company_name(identity) as company_name,
        pg_temp.draw('customer.email_case', i) as email_case,
        pg_temp.flag('customer.email_blanks', i) as has_email_blanks,
        pg_temp.rnd(i, 'customer.email_blank_style') as email_blank_u,
        (pg_temp.local(pg_temp.history_start())::date
            + floor((i - 1) * pg_temp.param('count.history_days') / pg_temp.param('count.customers'))::int) as created_on,
        pg_temp.draw('customer.created_format', i) as created_format,
        pg_temp.flag('customer.created_impossible', i) as created_impossible,
        pg_temp.rnd(i, 'customer.impossible_day') as impossible_day_u,
        pg_temp.draw('customer.status', i) as status,
        pg_temp.draw('customer.status_defect', i) as status_defect,
        pg_temp.flag('customer.edited', i) as is_edited,
        pg_temp.rnd(i, 'customer.edited_at') as edited_u,
        -- created during office hours, far from the 01:00-03:00 of a DST changeover
        pg_temp.seconds(8 * 3600 + pg_temp.rnd(i, 'customer.created_second') * 12 * 3600) as created_time,
        pg_temp.flag('customer.last_upd_null', i) as loses_last_upd
    from grouped
    offset 0
),

located as (
    select
        drawn.*,
        pg_temp.email_address(identity, is_company) as email_base,
        case
            when is_company then 'company'
            when own_name_format = 'company' then 'first_last'  -- a duplicate of a person stays a person
            else own_name_format
        end as name_format,
        created_on + created_time as created_local
    from drawn
    offset 0
),

composed as (
    select
        located.*,
        iso = 'US' and pg_temp.flag('customer.postal_lost_zero', postal_no) as lost_zero,
        iso = 'US' and pg_temp.flag('customer.postal_zip4', postal_no) as zip4,
        case
            when iso in ('US', 'CA') then pg_temp.draw('customer.phone_nanp', phone_no)
            else pg_temp.draw('customer.phone_intl', phone_no)
        end as phone_format,
        case email_class
            when 'null' then null
            when 'invalid' then pg_temp.invalid_email(i)
            else pg_temp.email_case(email_base, email_case)
        end as email,
        case
            when is_edited then pg_temp.local(pg_temp.instant(created_local)
                + pg_temp.seconds(edited_u * (pg_temp.param('epoch.history_end') - extract(epoch from pg_temp.instant(created_local)))))
            else created_local
        end as written_local
    from located
    offset 0
)

select
    pg_temp.customer_id(i),
    case
        when name_format <> 'company' then pg_temp.person_name(identity, name_format)
        when is_duplicate then pg_temp.upper_c(company_name)
        else company_name
    end,
    case
        when not has_email_blanks or email is null then email
        when email_blank_u < 0.4 then ' ' || email
        when email_blank_u < 0.8 then email || ' '
        else '  ' || email || ' '
    end,
    pg_temp.phone(i, iso, phone_format),
    address.addr1,
    address.addr2,
    address.city,
    address.state_cd,
    address.postal_cd,
    country_spelling,
    pg_temp.created_text(created_on, created_format, created_impossible, impossible_day_u),
    case status_defect when 'null' then null when 'lower' then lower(status) else status end,
    pg_temp.last_upd(written_local, loses_last_upd)
from composed
cross join lateral pg_temp.address(i, 'customer', iso, lost_zero, zip4) as address
