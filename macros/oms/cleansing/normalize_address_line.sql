{#
    Why: the same address is typed differently on the customer record and on each order
    (`12 Main Street, Apt. 4` vs `12 MAIN ST APT 4`). Addresses are shared rows in the target
    (one per distinct normalised address), so lines are normalised the way postal services do:
    upper case, no periods or commas, one blank between words, and the common USPS abbreviations
    for street suffixes and unit designators, word by word (German -STRASSE becomes -STR, as in
    Hauptstraße = Hauptstr.). Blank gives NULL.
    Words are replaced with plain replace() on the line with every word framed by two blanks, not
    with regular expressions: it runs on every address of every order, and PostgreSQL caches only
    32 compiled regular expressions per session.
#}
{% macro normalize_address_line(expression) -%}
    {%- set abbreviations = [
        ('STREET', 'ST'), ('AVENUE', 'AVE'), ('ROAD', 'RD'), ('BOULEVARD', 'BLVD'), ('DRIVE', 'DR'),
        ('LANE', 'LN'), ('COURT', 'CT'), ('PLACE', 'PL'), ('TERRACE', 'TER'), ('HIGHWAY', 'HWY'),
        ('PARKWAY', 'PKWY'), ('SQUARE', 'SQ'), ('APARTMENT', 'APT'), ('SUITE', 'STE'), ('BUILDING', 'BLDG'),
        ('FLOOR', 'FL'), ('NORTH', 'N'), ('SOUTH', 'S'), ('EAST', 'E'), ('WEST', 'W')
    ] -%}
    {%- set ns = namespace(sql="replace(' ' || " ~ squish("translate(upper(" ~ expression ~ "), '.,', '  ')") ~ " || ' ', ' ', '  ')") -%}
    {%- for long, short in abbreviations -%}
        {%- set ns.sql = "replace(" ~ ns.sql ~ ", '  " ~ long ~ "  ', '  " ~ short ~ "  ')" -%}
    {%- endfor -%}
    {{ squish("replace(replace(" ~ ns.sql ~ ", 'STRASSE  ', 'STR  '), 'STRAßE  ', 'STR  ')") }}
{%- endmacro %}
