{#
    Why: the same address is typed differently on the customer record and on each order
    (`12 Main Street, Apt. 4` vs `12 MAIN ST APT 4`). Addresses are shared rows in the target
    (one per distinct normalised address), so lines are normalised the way postal services do:
    upper case, no periods or commas, one blank between words, and the common USPS abbreviations
    for street suffixes and unit designators, word by word (German -STRASSE becomes -STR, as in
    Hauptstraße = Hauptstr.). Blank gives NULL.
    Word lookups go through a constant jsonb map instead of one regular expression per word:
    PostgreSQL caches only 32 compiled regular expressions per session, and a query that cycles
    through more recompiles them on every row.
#}
{% macro normalize_address_line(expression) -%}
    {%- set abbreviations = {
        'STREET': 'ST', 'AVENUE': 'AVE', 'ROAD': 'RD', 'BOULEVARD': 'BLVD', 'DRIVE': 'DR', 'LANE': 'LN',
        'COURT': 'CT', 'PLACE': 'PL', 'TERRACE': 'TER', 'HIGHWAY': 'HWY', 'PARKWAY': 'PKWY', 'SQUARE': 'SQ',
        'APARTMENT': 'APT', 'SUITE': 'STE', 'BUILDING': 'BLDG', 'FLOOR': 'FL',
        'NORTH': 'N', 'SOUTH': 'S', 'EAST': 'E', 'WEST': 'W'
    } -%}
    {%- set cleaned = squish("replace(replace(translate(upper(" ~ expression ~ "), '.,', '  '), 'STRASSE', 'STR'), 'STRAßE', 'STR')") -%}
    {%- set body -%}
        (
            select string_agg(coalesce('{{ tojson(abbreviations) }}'::jsonb ->> words.word, words.word), ' ' order by words.position)
            from unnest(string_to_array(line, ' ')) with ordinality as words (word, position)
        )
    {%- endset -%}
    {{ bind(cleaned, 'line', body) }}
{%- endmacro %}
