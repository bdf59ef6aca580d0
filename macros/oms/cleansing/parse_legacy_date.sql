{#
    Why: CUSTOMER.CREATED is free text written by four generations of the legacy application:
    `YYYY-MM-DD`, `MM/DD/YYYY` (always month first), `YYYYMMDD` and Oracle-style `DD-MON-YY`.
    Anything else, blanks, and impossible dates (`2011-02-30`) become NULL instead of failing the
    build, so the caller can apply its fallback and record a finding. Two-digit years follow
    Oracle's RR rule: below `pivot` is 20YY, from `pivot` on is 19YY.
    Pure SQL (no function to install), so it runs wherever the model runs.
#}
{% macro parse_legacy_date(expression, pivot=50) -%}
    {%- set parts -%}
        case
            when s ~ '^\d{4}-\d{1,2}-\d{1,2}$'
                then array[split_part(s, '-', 1), split_part(s, '-', 2), split_part(s, '-', 3)]::int[]
            when s ~ '^\d{1,2}/\d{1,2}/\d{4}$'
                then array[split_part(s, '/', 3), split_part(s, '/', 1), split_part(s, '/', 2)]::int[]
            when s ~ '^\d{8}$'
                then array[substr(s, 1, 4), substr(s, 5, 2), substr(s, 7, 2)]::int[]
            when s ~ '^\d{1,2}-[A-Za-z]{3}-\d{2}$'
                then array[
                    case
                        when split_part(s, '-', 3)::int < {{ pivot }} then 2000 + split_part(s, '-', 3)::int
                        else 1900 + split_part(s, '-', 3)::int
                    end,
                    coalesce(array_position(
                        array['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
                        upper(split_part(s, '-', 2))
                    ), 0),
                    split_part(s, '-', 1)::int
                ]
        end
    {%- endset -%}
    {%- set checked -%}
        case
            when ymd[1] between 1 and 9999 and ymd[2] between 1 and 12 then
                case
                    when ymd[3] between 1 and extract(day from make_date(ymd[1], ymd[2], 1) + interval '1 month' - interval '1 day')
                        then make_date(ymd[1], ymd[2], ymd[3])
                end
        end
    {%- endset -%}
    {{ bind(bind("nullif(btrim(" ~ expression ~ "), '')", 's', parts), 'ymd', checked) }}
{%- endmacro %}
