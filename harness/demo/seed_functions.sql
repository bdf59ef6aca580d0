-- Helpers of the legacy OMS generator (harness/demo/seed.py): pure functions of row numbers,
-- created in pg_temp for one run and dropped after it. pg_temp.param, pick_class, stream_step,
-- rnd and strat are written by seed.py, since they hold the run's scale, seed and RATES.
--
-- Every helper is a single SQL expression, so the planner inlines it and folds its constant
-- parts; a helper that could not be inlined would be called once per row, ten times slower.
-- (The few with a FROM clause take only constants: the planner evaluates them once.) Inlining
-- gives up when an argument used twice is itself a big expression: callers pass plain
-- columns, computed in an earlier step fenced with "offset 0".

-- ---------------------------------------------------------------------------------------
-- Drawing
-- ---------------------------------------------------------------------------------------

-- The class of row k in a distribution of RATES.
create function pg_temp.draw(name text, k bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.pick_class(name, pg_temp.strat(k, name))
$$;

-- Whether row k carries a flag of RATES (drawn with the probability that seed.thresholds gives).
create function pg_temp.flag(name text, k bigint) returns boolean
language sql immutable parallel safe as $$
    select pg_temp.strat(k, name) < pg_temp.param(name)
$$;

-- One element of a list, chosen by u in [0, 1).
create function pg_temp.pick_from(list text[], u float8) returns text
language sql immutable parallel safe as $$
    select list[1 + floor(u * cardinality(list))::int]
$$;

create function pg_temp.rnd_int(k bigint, stream text, low bigint, high bigint) returns bigint
language sql immutable parallel safe as $$
    select low + floor(pg_temp.rnd(k, stream) * (high - low + 1))::bigint
$$;

-- Case changes that do not depend on the database's locale: accented letters by hand, the rest
-- as ASCII, so that the same seed gives the same bytes on every server.
create function pg_temp.upper_c(s text) returns text
language sql immutable parallel safe as $$
    select case
        when octet_length(s) = length(s) then upper(s collate "C")  -- plain ASCII: no translate, which is slow
        else upper(translate(s, 'àáâäãåçèéêëìíîïñòóôöõùúûüýÿ', 'ÀÁÂÄÃÅÇÈÉÊËÌÍÎÏÑÒÓÔÖÕÙÚÛÜÝŸ') collate "C")
    end
$$;

create function pg_temp.lower_c(s text) returns text
language sql immutable parallel safe as $$
    select lower(s collate "C")
$$;

-- A name as the local part or domain of an e-mail address: a-z only.
create function pg_temp.ascii_word(s text) returns text
language sql immutable parallel safe as $$
    select translate(
        lower(translate(s, 'àáâäãåçèéêëìíîïñòóôöõùúûüýÿÀÁÂÄÃÅÇÈÉÊËÌÍÎÏÑÒÓÔÖÕÙÚÛÜÝ', 'aaaaaaceeeeiiiinooooouuuuyyAAAAAACEEEEIIIINOOOOOUUUUY') collate "C"),
        ' ''-.&', ''
    )
$$;

-- ---------------------------------------------------------------------------------------
-- Time: the legacy application wrote New York wall-clock time into timestamp columns
-- ---------------------------------------------------------------------------------------

create function pg_temp.history_start() returns timestamptz
language sql immutable parallel safe as $$
    select to_timestamp(pg_temp.param('epoch.history_start'))
$$;

create function pg_temp.history_end() returns timestamptz
language sql immutable parallel safe as $$
    select to_timestamp(pg_temp.param('epoch.history_end'))
$$;

create function pg_temp.history_seconds() returns float8
language sql immutable parallel safe as $$
    select pg_temp.param('epoch.history_end') - pg_temp.param('epoch.history_start')
$$;

create function pg_temp.old_writes_before() returns timestamp
language sql immutable parallel safe as $$
    select to_timestamp(pg_temp.param('epoch.old_writes_before')) at time zone 'America/New_York'
$$;

-- Instants are generated as timestamptz and only then turned into wall-clock time, so that a
-- natural time never falls into the hour skipped in spring: only the planted defects do.
-- A conversion costs about as much as all the rest of a column: each row converts once.
create function pg_temp.local(t timestamptz) returns timestamp
language sql immutable parallel safe as $$
    select t at time zone 'America/New_York'
$$;

create function pg_temp.instant(t timestamp) returns timestamptz
language sql immutable parallel safe as $$
    select t at time zone 'America/New_York'
$$;

-- Whole seconds only: an interval of seconds is added to a timestamptz independently of the
-- session's time zone (a day or a month would not be).
create function pg_temp.seconds(s float8) returns interval
language sql immutable parallel safe as $$
    select make_interval(secs => floor(s))
$$;

-- LAST_UPD: the wall-clock time of the last write, NULL for some rows last written before 2012.
create function pg_temp.last_upd(written timestamp, loses_it boolean) returns timestamp
language sql immutable parallel safe as $$
    select case when loses_it and written < pg_temp.old_writes_before() then null else written end
$$;

-- Daylight saving time in New York since 2007: clocks go forward at 02:00 on the second Sunday
-- of March (02:00-02:59 does not exist) and back at 02:00 on the first Sunday of November
-- (01:00-01:59 happens twice).
create function pg_temp.spring_forward_day(y int) returns date
language sql immutable parallel safe as $$
    select make_date(y, 3, 8) + (7 - extract(dow from make_date(y, 3, 8))::int) % 7
$$;

create function pg_temp.fall_back_day(y int) returns date
language sql immutable parallel safe as $$
    select make_date(y, 11, 1) + (7 - extract(dow from make_date(y, 11, 1))::int) % 7
$$;

-- A year of the history, for a changeover day near a given time.
create function pg_temp.history_year(y int) returns int
language sql immutable parallel safe as $$
    select least(greatest(y, pg_temp.param('year.first')::int), pg_temp.param('year.last')::int)
$$;

-- ---------------------------------------------------------------------------------------
-- People and companies
-- ---------------------------------------------------------------------------------------

-- CUST_ID of customer number i: ids start at 1001 and every eleventh id is missing (1010,
-- 1021, ...): customers deleted long ago, whom some orders still name.
create function pg_temp.customer_id(i bigint) returns int
language sql immutable parallel safe as $$
    select (1000 + i + i / 10)::int
$$;

create function pg_temp.missing_customer_id(m bigint) returns int
language sql immutable parallel safe as $$
    select (1000 + 11 * m - 1)::int
$$;

-- Given and family names. The ASCII and upper-case forms are computed once, when the planner
-- folds these constant functions, not once per row.
create function pg_temp.first_names() returns text[]
language sql immutable parallel safe as $$
    select array[
        'James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael', 'Linda', 'William', 'Elizabeth',
        'David', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen',
        'Christopher', 'Nancy', 'Daniel', 'Lisa', 'Matthew', 'Betty', 'Anthony', 'Margaret', 'Mark', 'Sandra',
        'Donald', 'Ashley', 'Steven', 'Kimberly', 'Paul', 'Emily', 'Andrew', 'Donna', 'Joshua', 'Michelle',
        'Kevin', 'Carol', 'Brian', 'Amanda', 'George', 'Melissa', 'Timothy', 'Stephanie', 'Oliver', 'Amelia',
        'José', 'Zoë', 'Renée', 'Chloé', 'François', 'Jürgen', 'Hans', 'Anna', 'Lukas', 'Sophie',
        'Siobhan', 'Liam', 'Noah', 'Emma', 'Priya', 'Wei', 'Mei', 'Ahmed', 'Fatima', 'Olga'
    ]
$$;

create function pg_temp.last_names() returns text[]
language sql immutable parallel safe as $$
    select array[
        'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
        'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin',
        'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson',
        'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores',
        'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts',
        'O''Brien', 'O''Connor', 'McDonald', 'MacLeod', 'Smith-Jones', 'Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber',
        'Meyer', 'Wagner', 'Becker', 'Núñez', 'García-López', 'Dubois', 'Tremblay', 'Gagnon', 'Côté', 'Patel',
        'Singh', 'Kim', 'Chen', 'Wong', 'Murphy', 'Kelly', 'Kowalski', 'Ivanova', 'Rossi', 'Silva'
    ]
$$;

create function pg_temp.ascii_names(names text[]) returns text[]
language sql immutable parallel safe as $$
    select array_agg(pg_temp.ascii_word(name) order by n) from unnest(names) with ordinality as t(name, n)
$$;

create function pg_temp.upper_names(names text[]) returns text[]
language sql immutable parallel safe as $$
    select array_agg(pg_temp.upper_c(name) order by n) from unnest(names) with ordinality as t(name, n)
$$;

-- Which name person k has, in each list.
create function pg_temp.first_no(k bigint) returns int
language sql immutable parallel safe as $$
    select 1 + floor(pg_temp.rnd(k, 'name.first') * cardinality(pg_temp.first_names()))::int
$$;

create function pg_temp.last_no(k bigint) returns int
language sql immutable parallel safe as $$
    select 1 + floor(pg_temp.rnd(k, 'name.last') * cardinality(pg_temp.last_names()))::int
$$;

create function pg_temp.first_name(k bigint) returns text
language sql immutable parallel safe as $$
    select (pg_temp.first_names())[pg_temp.first_no(k)]
$$;

create function pg_temp.last_name(k bigint) returns text
language sql immutable parallel safe as $$
    select (pg_temp.last_names())[pg_temp.last_no(k)]
$$;

create function pg_temp.company_word(k bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.pick_from(array[
        'Acme', 'Globex', 'Initech', 'Umbrella', 'Stark', 'Wayne', 'Wonka', 'Hooli', 'Vandelay', 'Soylent',
        'Cyberdyne', 'Tyrell', 'Dunder Mifflin', 'Pied Piper', 'Oceanic', 'Sterling Cooper', 'Monarch', 'Blue Sun',
        'Bluth', 'Prestige'
    ], pg_temp.rnd(k, 'name.company'))
$$;

create function pg_temp.company_name(k bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.company_word(k) || ' '
        || pg_temp.pick_from(array['Ltd', 'Inc.', 'LLC', 'Corp', 'GmbH', 'Co.', 'Ltd.', '& Sons'], pg_temp.rnd(k, 'name.company_suffix'))
$$;

-- CUST_NM of person k in one of the legacy formats; 'company' is not a person format.
create function pg_temp.person_name(k bigint, format text) returns text
language sql immutable parallel safe as $$
    select case format
        when 'last_first_upper' then
            (pg_temp.upper_names(pg_temp.last_names()))[pg_temp.last_no(k)] || ', ' || (pg_temp.upper_names(pg_temp.first_names()))[pg_temp.first_no(k)]
        when 'first_last_upper' then
            (pg_temp.upper_names(pg_temp.first_names()))[pg_temp.first_no(k)] || ' ' || (pg_temp.upper_names(pg_temp.last_names()))[pg_temp.last_no(k)]
        else pg_temp.first_name(k) || ' ' || pg_temp.last_name(k)
    end
$$;

create function pg_temp.first_ascii(k bigint) returns text
language sql immutable parallel safe as $$
    select (pg_temp.ascii_names(pg_temp.first_names()))[pg_temp.first_no(k)]
$$;

create function pg_temp.last_ascii(k bigint) returns text
language sql immutable parallel safe as $$
    select (pg_temp.ascii_names(pg_temp.last_names()))[pg_temp.last_no(k)]
$$;

create function pg_temp.email_local_part(k bigint, u float8) returns text
language sql immutable parallel safe as $$
    select case
        when u < 0.40 then pg_temp.first_ascii(k) || '.' || pg_temp.last_ascii(k)
        when u < 0.60 then left(pg_temp.first_ascii(k), 1) || pg_temp.last_ascii(k)
        when u < 0.75 then pg_temp.first_ascii(k) || '_' || pg_temp.last_ascii(k)
        when u < 0.90 then pg_temp.first_ascii(k)
        else pg_temp.last_ascii(k) || '.' || pg_temp.first_ascii(k)
    end
$$;

-- The valid, lower-case e-mail address of identity k; the number in it keeps it unique.
create function pg_temp.email_address(k bigint, is_company boolean) returns text
language sql immutable parallel safe as $$
    select case
        when is_company then
            pg_temp.pick_from(array['info', 'orders', 'sales', 'office', 'purchasing'], pg_temp.rnd(k, 'email.mailbox'))
            || k::text || '@' || pg_temp.ascii_word(pg_temp.company_word(k)) || '.com'
        else
            pg_temp.email_local_part(k, pg_temp.rnd(k, 'email.style')) || k::text || '@'
            || pg_temp.pick_from(array[
                   'gmail.com', 'yahoo.com', 'hotmail.com', 'aol.com', 'outlook.com', 'comcast.net', 'verizon.net',
                   'icloud.com', 'yahoo.co.uk', 'btinternet.com', 'web.de', 'gmx.de', 'sympatico.ca'
               ], pg_temp.rnd(k, 'email.domain'))
    end
$$;

-- What clerks typed when the customer had no address or would not give it.
create function pg_temp.invalid_email(k bigint) returns text
language sql immutable parallel safe as $$
    select case floor(pg_temp.rnd(k, 'email.invalid') * 7)::int
        when 0 then 'n/a'
        when 1 then 'none'
        when 2 then 'N/A'
        when 3 then pg_temp.first_ascii(k) || '.' || pg_temp.last_ascii(k) || '@'
        when 4 then pg_temp.first_ascii(k) || '.' || pg_temp.last_ascii(k) || '.gmail.com'
        when 5 then pg_temp.first_ascii(k) || '@@yahoo.com'
        else 'unknown'
    end
$$;

-- The case variants the legacy screens let through.
create function pg_temp.email_case(address text, variant text) returns text
language sql immutable parallel safe as $$
    select case variant
        when 'capitalised' then initcap(address collate "C")
        when 'upper' then upper(address collate "C")
        else address
    end
$$;

-- ---------------------------------------------------------------------------------------
-- Addresses and phones
-- ---------------------------------------------------------------------------------------

-- ISO code of a CTRY spelling that the generator writes; NULL meant the US.
create function pg_temp.country_iso(spelling text) returns text
language sql immutable parallel safe as $$
    select case coalesce(spelling, 'US')
        when 'US' then 'US' when 'USA' then 'US' when 'U.S.A.' then 'US' when 'United States' then 'US' when 'us' then 'US'
        when 'CA' then 'CA' when 'Canada' then 'CA' when 'CANADA' then 'CA'
        when 'GB' then 'GB' when 'UK' then 'GB' when 'United Kingdom' then 'GB'
        when 'DE' then 'DE' when 'Germany' then 'DE' when 'GERMANY' then 'DE'
    end
$$;

-- Another way to write the same country.
create function pg_temp.country_spelling(iso text, u float8) returns text
language sql immutable parallel safe as $$
    select case iso
        when 'CA' then pg_temp.pick_from(array['Canada', 'CA', 'CANADA'], u)
        when 'GB' then pg_temp.pick_from(array['UK', 'United Kingdom', 'GB'], u)
        when 'DE' then pg_temp.pick_from(array['Germany', 'DE', 'GERMANY'], u)
        else pg_temp.pick_from(array['USA', 'United States', 'U.S.A.', 'US'], u)
    end
$$;

-- 'City|State|Postal code'. The first twelve US cities have ZIP codes with a leading zero.
create function pg_temp.us_cities() returns text[]
language sql immutable parallel safe as $$
    select array[
        'Boston|MA|02108', 'Cambridge|MA|02139', 'Worcester|MA|01608', 'Springfield|MA|01103',
        'Providence|RI|02903', 'Hartford|CT|06103', 'New Haven|CT|06510', 'Newark|NJ|07102',
        'Jersey City|NJ|07302', 'Portland|ME|04101', 'Burlington|VT|05401', 'Manchester|NH|03101',
        'New York|NY|10001', 'Brooklyn|NY|11201', 'Chicago|IL|60601', 'Los Angeles|CA|90012',
        'San Francisco|CA|94103', 'San Diego|CA|92101', 'Houston|TX|77002', 'Austin|TX|78701',
        'Dallas|TX|75201', 'Phoenix|AZ|85004', 'Philadelphia|PA|19103', 'Pittsburgh|PA|15222',
        'Seattle|WA|98101', 'Denver|CO|80202', 'Atlanta|GA|30303', 'Miami|FL|33130',
        'Orlando|FL|32801', 'Minneapolis|MN|55401', 'Detroit|MI|48226', 'Nashville|TN|37203',
        'Portland|OR|97204', 'Las Vegas|NV|89101', 'Salt Lake City|UT|84101', 'Columbus|OH|43215',
        'Charlotte|NC|28202', 'Baltimore|MD|21202', 'Washington|DC|20001', 'St. Louis|MO|63101'
    ]
$$;

create function pg_temp.city_entry(country text, lost_zero boolean, u float8) returns text
language sql immutable parallel safe as $$
    select case country
        when 'CA' then pg_temp.pick_from(array[
            'Toronto|ON|M5V 3L9', 'Vancouver|BC|V6B 1A1', 'Montréal|QC|H2X 1Y4', 'Calgary|AB|T2P 1J9',
            'Ottawa|ON|K1P 1J1', 'Halifax|NS|B3J 1S9'], u)
        when 'GB' then pg_temp.pick_from(array[
            'London||SW1A 1AA', 'London||EC1A 1BB', 'Manchester||M1 1AE', 'Birmingham||B1 1AA',
            'Edinburgh||EH1 1YZ', 'Leeds||LS1 4AP'], u)
        when 'DE' then pg_temp.pick_from(array[
            'Berlin||10115', 'München||80331', 'Hamburg||20095', 'Köln||50667', 'Dresden||01067',
            'Frankfurt am Main||60311'], u)
        when 'US' then case
            when lost_zero then pg_temp.pick_from((pg_temp.us_cities())[1:12], u)
            else pg_temp.pick_from(pg_temp.us_cities(), u)
        end
    end
$$;

create function pg_temp.street(k bigint, stream text, country text) returns text
language sql immutable parallel safe as $$
    select case country
        when 'DE' then
            pg_temp.pick_from(array['Haupt', 'Goethe', 'Schiller', 'Bahnhof', 'Garten', 'Linden', 'Berliner', 'Mozart'], pg_temp.rnd(k, stream || '.street'))
            || pg_temp.pick_from(array['straße', 'str.', 'weg', 'allee'], pg_temp.rnd(k, stream || '.suffix'))
        when 'GB' then
            pg_temp.pick_from(array['High', 'Station', 'Church', 'Victoria', 'Green', 'Manor', 'Park', 'Queen''s'], pg_temp.rnd(k, stream || '.street'))
            || ' ' || pg_temp.pick_from(array['Road', 'Street', 'Lane', 'Close', 'Gardens'], pg_temp.rnd(k, stream || '.suffix'))
        else
            pg_temp.pick_from(array[
                'Main', 'Oak', 'Maple', 'Cedar', 'Elm', 'Washington', 'Lake', 'Hill', 'Park', 'Pine',
                '2nd', '3rd', 'Sunset', 'Highland', 'Franklin', 'Lincoln', 'Church', 'Spring', 'Ridge', 'Water'
            ], pg_temp.rnd(k, stream || '.street'))
            || ' ' || pg_temp.pick_from(array['St', 'Street', 'Ave', 'Avenue', 'Rd', 'Road', 'Blvd', 'Dr', 'Ln', 'Way'], pg_temp.rnd(k, stream || '.suffix'))
    end
$$;

-- An address in a country (ISO code). lost_zero: a US ZIP code stored as a number ('2134');
-- zip4: a US ZIP+4 code.
create function pg_temp.address(k bigint, stream text, country text, lost_zero boolean, zip4 boolean)
returns table (addr1 text, addr2 text, city text, state_cd text, postal_cd text)
language sql immutable parallel safe as $$
    select
        case
            when country = 'DE' then pg_temp.street(k, stream, country) || ' ' || house_no
            else house_no || ' ' || pg_temp.street(k, stream, country)
        end,
        case
            when unit_u < 0.12 then 'Apt ' || (1 + floor(unit_u * 300))::int::text || pg_temp.pick_from(array['', 'A', 'B', 'C'], pg_temp.rnd(k, stream || '.apt'))
            when unit_u < 0.18 then 'Suite ' || (100 * (1 + floor(unit_u * 60)))::int::text
            when unit_u < 0.22 then 'Unit ' || (1 + floor(unit_u * 90))::int::text
            when unit_u < 0.25 then 'Fl ' || (1 + floor(unit_u * 40))::int::text
            when unit_u < 0.28 then ''
        end,
        split_part(entry, '|', 1),
        nullif(split_part(entry, '|', 2), ''),
        case
            when country <> 'US' then split_part(entry, '|', 3)
            when lost_zero then ltrim(zip5, '0')
            when zip4 then zip5 || '-' || lpad(pg_temp.rnd_int(k, stream || '.zip4', 1, 9999)::text, 4, '0')
            else zip5
        end
    from (
        select
            entry,
            pg_temp.rnd_int(k, stream || '.house_no', 1, 9899)::text as house_no,
            pg_temp.rnd(k, stream || '.unit') as unit_u,
            -- a ZIP code near the city's own, keeping its leading zero
            case when country = 'US' then
                lpad((split_part(entry, '|', 3)::int + pg_temp.rnd_int(k, stream || '.zip', 0, 39))::text, 5, '0')
            end as zip5
        from (select pg_temp.city_entry(country, lost_zero, pg_temp.rnd(k, stream || '.city')) as entry) as city
    ) as picked
$$;

-- The parts of a phone number, each a pure function of k.
create function pg_temp.phone_area(k bigint, country text) returns text
language sql immutable parallel safe as $$
    select case country
        when 'CA' then pg_temp.pick_from(array['416', '604', '514', '403', '613', '902'], pg_temp.rnd(k, 'phone.area'))
        when 'GB' then pg_temp.pick_from(array['20', '161', '121', '131', '113'], pg_temp.rnd(k, 'phone.area'))
        when 'DE' then pg_temp.pick_from(array['30', '89', '40', '221', '351', '69'], pg_temp.rnd(k, 'phone.area'))
        else pg_temp.pick_from(array[
            '617', '508', '401', '860', '203', '973', '201', '207', '802', '603', '212', '718',
            '312', '213', '415', '619', '713', '512', '214', '602', '215', '412', '206', '303',
            '404', '305', '407', '612', '313', '615', '503', '702', '801', '614', '704', '410', '202', '314'
        ], pg_temp.rnd(k, 'phone.area'))
    end
$$;

create function pg_temp.phone_exchange(k bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.rnd_int(k, 'phone.exchange', 200, 999)::text
$$;

create function pg_temp.phone_line(k bigint) returns text
language sql immutable parallel safe as $$
    select lpad(pg_temp.rnd_int(k, 'phone.line', 0, 9999)::text, 4, '0')
$$;

-- North American numbering: the US and Canada.
create function pg_temp.nanp_phone(k bigint, country text, format text) returns text
language sql immutable parallel safe as $$
    select case format
        when 'parentheses' then '(' || pg_temp.phone_area(k, country) || ') ' || pg_temp.phone_exchange(k) || '-' || pg_temp.phone_line(k)
        when 'dots' then pg_temp.phone_area(k, country) || '.' || pg_temp.phone_exchange(k) || '.' || pg_temp.phone_line(k)
        when 'plus_one' then '+1 ' || pg_temp.phone_area(k, country) || ' ' || pg_temp.phone_exchange(k) || ' ' || pg_temp.phone_line(k)
        when 'dashes' then pg_temp.phone_area(k, country) || '-' || pg_temp.phone_exchange(k) || '-' || pg_temp.phone_line(k)
        when 'digits' then pg_temp.phone_area(k, country) || pg_temp.phone_exchange(k) || pg_temp.phone_line(k)
        when 'extension' then pg_temp.phone_area(k, country) || pg_temp.phone_exchange(k) || pg_temp.phone_line(k)
            || ' ext. ' || pg_temp.rnd_int(k, 'phone.extension', 1, 999)::text
        when 'local_only' then pg_temp.phone_exchange(k) || '-' || pg_temp.phone_line(k)
    end
$$;

create function pg_temp.country_calling_code(country text) returns text
language sql immutable parallel safe as $$
    select case country when 'GB' then '44' when 'DE' then '49' else '1' end
$$;

create function pg_temp.phone_subscriber(k bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.rnd_int(k, 'phone.subscriber', 2000000, 9999999)::text
$$;

-- British and German numbers, written internationally or nationally (with the trunk 0).
create function pg_temp.intl_phone(k bigint, country text, format text) returns text
language sql immutable parallel safe as $$
    select case format
        when 'international' then '+' || pg_temp.country_calling_code(country) || ' ' || pg_temp.phone_area(k, country) || ' ' || pg_temp.phone_subscriber(k)
        when 'national' then '0' || pg_temp.phone_area(k, country) || ' ' || pg_temp.phone_subscriber(k)
        when 'international_zero' then '+' || pg_temp.country_calling_code(country) || ' (0)' || pg_temp.phone_area(k, country) || ' ' || pg_temp.phone_subscriber(k)
    end
$$;

-- PHONE in one of the formats clerks typed. North American numbers for US and Canadian
-- customers, British and German numbers (in their own national formats) for the others.
create function pg_temp.phone(k bigint, country text, format text) returns text
language sql immutable parallel safe as $$
    select case
        when format = 'null' then null
        when format = 'empty' then ''
        when country in ('US', 'CA') then pg_temp.nanp_phone(k, country, format)
        else pg_temp.intl_phone(k, country, format)
    end
$$;

create function pg_temp.impossible_date_text(y text, month_day text, format text) returns text
language sql immutable parallel safe as $$
    select case format
        when 'iso' then y || '-' || month_day
        when 'us' then replace(month_day, '-', '/') || '/' || y
        when 'compact' then y || replace(month_day, '-', '')
        else right(month_day, 2) || '-'
            || case left(month_day, 2) when '02' then 'FEB' when '04' then 'APR' when '06' then 'JUN' when '09' then 'SEP' else 'NOV' end
            || '-' || right(y, 2)
    end
$$;

-- CREATED as typed: ISO, US (month first), compact, Oracle's DD-MON-YY; some impossible days.
create function pg_temp.created_text(created date, format text, impossible boolean, u float8) returns text
language sql stable parallel safe as $$
    select case
        when format = 'null' then null
        when format = 'empty' then ''
        when impossible then pg_temp.impossible_date_text(to_char(created, 'YYYY'), pg_temp.pick_from(array['02-30', '02-31', '04-31', '06-31', '09-31', '11-31'], u), format)
        when format = 'iso' then to_char(created, 'YYYY-MM-DD')
        when format = 'us' then to_char(created, 'MM/DD/YYYY')
        when format = 'compact' then to_char(created, 'YYYYMMDD')
        else to_char(created, 'DD-MON-YY')
    end
$$;

-- ---------------------------------------------------------------------------------------
-- Products and money
-- ---------------------------------------------------------------------------------------

-- 'SKU prefix|category path|what the products are'. Product n belongs to one category.
create function pg_temp.category_entry(n bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.pick_from(array[
        'KN|Home > Kitchen > Knives|Chef Knife', 'CW|Home > Kitchen > Cookware|Skillet',
        'SA|Home > Kitchen > Small Appliances|Blender', 'TW|Home > Bath > Towels|Bath Towel',
        'BD|Home > Bedroom > Bedding|Duvet Cover', 'LT|Home > Living Room > Lighting|Floor Lamp',
        'HT|Garden > Tools > Hand Tools|Pruning Shears', 'PT|Garden > Tools > Power Tools|Hedge Trimmer',
        'GF|Garden > Furniture|Deck Chair', 'SD|Garden > Plants > Seeds|Tomato Seeds',
        'HP|Electronics > Audio > Headphones|Headphones', 'SP|Electronics > Audio > Speakers|Speaker',
        'CA|Electronics > Computers > Accessories|USB-C Hub', 'ST|Electronics > Computers > Storage|SSD Drive',
        'PC|Electronics > Phones > Cases|Phone Case', 'BG|Toys > Games > Board Games|Board Game',
        'TO|Toys > Outdoor|Kite', 'CH|Sports > Cycling > Helmets|Bike Helmet',
        'TN|Sports > Camping > Tents|Tent', 'FT|Sports > Fitness|Yoga Mat',
        'OP|Office > Paper|Copy Paper', 'WP|Office > Writing > Pens|Fountain Pen',
        'MS|Clothing > Men > Shirts|Oxford Shirt', 'WS|Clothing > Women > Shoes|Running Shoe'
    ], pg_temp.rnd(n, 'product.category'))
$$;

-- SKU of product n. Unknown SKUs in order lines use the prefix ZZ, which no category has.
create function pg_temp.product_sku(n bigint) returns text
language sql immutable parallel safe as $$
    select split_part(pg_temp.category_entry(n), '|', 1) || '-' || lpad(n::text, greatest(5, length(n::text)), '0')
$$;

create function pg_temp.product_descr(n bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.pick_from(array['Classic', 'Deluxe', 'Compact', 'Premium', 'Eco', 'Pro', 'Mini', 'Heavy-Duty', 'Stainless', 'Vintage'], pg_temp.rnd(n, 'product.adjective'))
        || ' ' || split_part(pg_temp.category_entry(n), '|', 3)
        || pg_temp.pick_from(array['', '', ' 8"', ' (2-pack)', ' XL', ' - blue', ' 10"'], pg_temp.rnd(n, 'product.variant'))
$$;

-- List price in US cents: $2 to $999, ending in .99, .49, .95, .50 or .00.
create function pg_temp.product_price_cents(n bigint) returns bigint
language sql immutable parallel safe as $$
    select floor(exp(ln(2) + pg_temp.rnd(n, 'product.dollars') * ln(500)))::bigint * 100
        + (array[99, 49, 95, 50, 0])[1 + floor(pg_temp.rnd(n, 'product.cents') * 5)::int]
$$;

-- Money as the legacy code stored it: a double, sometimes a hair off the cent (19.989999999).
-- Rounding it to the cent always gives the intended price back.
create function pg_temp.float_money(cents bigint, style text) returns float8
language sql immutable parallel safe as $$
    select cents::float8 / 100 + case style when 'below' then -1e-9::float8 when 'above' then 1e-9::float8 else 0::float8 end
$$;

-- Order lines are priced in the order's currency.
create function pg_temp.fx_rate(currency text) returns numeric
language sql immutable parallel safe as $$
    select case currency when 'EUR' then 0.92 when 'GBP' then 0.79 when 'CAD' then 1.36 else 1 end
$$;

-- THE LINE TOTAL, on which the dbt models rely:
--     round(QTY * round(UNIT_PRICE::numeric, 2) * (100 - coalesce(DISC_PCT, 0)) / 100, 2)
-- in numeric arithmetic: the float price is rounded to the cent first, NULL DISC_PCT means no
-- discount, and the result is rounded to the cent half away from zero. In integer cents, which
-- is how it is computed here (every price is within a millionth of a cent of a whole cent):
--     round_half_away_from_zero(QTY * unit_price_cents * (10000 - disc_bps) / 10000)
-- An ORDER_TOTAL that agrees equals the sum of this over all of the order's lines (returns,
-- zero quantities and unknown SKUs included), in the order's currency.
create function pg_temp.line_total_cents(qty integer, unit_price float8, disc_pct numeric) returns bigint
language sql immutable parallel safe as $$
    select sign(qty) * ((abs(qty) * round(unit_price * 100)::bigint * (10000 - coalesce((disc_pct * 100)::int, 0)) + 5000) / 10000)
$$;

-- Whole currency units with a separator between thousands: 1,234,567.
create function pg_temp.grouped_units(units bigint, separator text) returns text
language sql immutable parallel safe as $$
    select case
        when units >= 1000000 then (units / 1000000)::text || separator || lpad((units / 1000 % 1000)::text, 3, '0') || separator || lpad((units % 1000)::text, 3, '0')
        when units >= 1000 then (units / 1000)::text || separator || lpad((units % 1000)::text, 3, '0')
        else units::text
    end
$$;

create function pg_temp.two_digits(n bigint) returns text
language sql immutable parallel safe as $$
    select lpad(n::text, 2, '0')
$$;

-- ORDER_TOTAL as the legacy screens formatted it, from an amount in cents:
--   USD or no currency:  $1,234.50   1234.5 (no trailing zeros)   1234.50 USD
--   EUR:                 €1.234,50   1234,50                      1234,50 EUR
--   GBP:                 £1,234.50   1234.50                      1234.50 GBP
--   CAD:                 C$1,234.50  1234.50                      1234.50 CAD
-- A negative amount starts with '-': -$12.50, -1234.50 GBP. Written with integer arithmetic:
-- to_char would be several times slower.
create function pg_temp.money_text(cents bigint, currency text, style text) returns text
language sql immutable parallel safe as $$
    select case when cents < 0 then '-' else '' end || case
        when style = 'symbol' then
            case coalesce(currency, 'USD') when 'USD' then '$' when 'EUR' then '€' when 'GBP' then '£' else 'C$' end
            || pg_temp.grouped_units(abs(cents) / 100, case when currency = 'EUR' then '.' else ',' end)
            || case when currency = 'EUR' then ',' else '.' end || pg_temp.two_digits(abs(cents) % 100)
        when currency = 'EUR' then
            (abs(cents) / 100)::text || ',' || pg_temp.two_digits(abs(cents) % 100) || case when style = 'code' then ' EUR' else '' end
        when style = 'code' then
            (abs(cents) / 100)::text || '.' || pg_temp.two_digits(abs(cents) % 100) || ' ' || coalesce(currency, 'USD')
        when style = 'plain' and coalesce(currency, 'USD') = 'USD' then
            (abs(cents) / 100)::text || case
                when abs(cents) % 100 = 0 then ''
                when abs(cents) % 10 = 0 then '.' || (abs(cents) % 100 / 10)::text
                else '.' || pg_temp.two_digits(abs(cents) % 100)
            end
        else (abs(cents) / 100)::text || '.' || pg_temp.two_digits(abs(cents) % 100)
    end
$$;

-- The first of two payments of an order: 30% to 70% of its total.
create function pg_temp.first_payment(total numeric, o bigint) returns numeric
language sql immutable parallel safe as $$
    select round(total * pg_temp.rnd_int(o, 'payment.split', 30, 70) / 100, 2)
$$;

-- Luhn check digit of a payload of up to 15 digits: from the right, every other digit is
-- doubled (its digits summed), starting with the rightmost payload digit.
create function pg_temp.luhn_doubled(d bigint) returns bigint
language sql immutable parallel safe as $$
    select 2 * d - 9 * (d / 5)
$$;

create function pg_temp.luhn_check_digit(p bigint) returns bigint
language sql immutable parallel safe as $$
    select (10 - (
          pg_temp.luhn_doubled(p % 10) + p / 10 % 10
        + pg_temp.luhn_doubled(p / 100 % 10) + p / 1000 % 10
        + pg_temp.luhn_doubled(p / 10000 % 10) + p / 100000 % 10
        + pg_temp.luhn_doubled(p / 1000000 % 10) + p / 10000000 % 10
        + pg_temp.luhn_doubled(p / 100000000 % 10) + p / 1000000000 % 10
        + pg_temp.luhn_doubled(p / 10000000000 % 10) + p / 100000000000 % 10
        + pg_temp.luhn_doubled(p / 1000000000000 % 10) + p / 10000000000000 % 10
        + pg_temp.luhn_doubled(p / 100000000000000 % 10)
    ) % 10) % 10
$$;

-- The first fifteen digits of a leaked card number (fourteen for Amex): Visa 4..., Mastercard
-- 51-55..., Amex 34 or 37.
create function pg_temp.card_payload(method text, u float8) returns bigint
language sql immutable parallel safe as $$
    select case method
        when 'AMEX' then (34 + 3 * floor(u * 2))::bigint * 1000000000000 + floor(u * 2e12)::bigint % 1000000000000
        when 'VISA' then 4 * 100000000000000 + floor(u * 1e14)::bigint
        else (51 + floor(u * 5))::bigint * 10000000000000 + floor(u * 5e13)::bigint % 10000000000000
    end
$$;

-- A full card number as it leaked: Luhn-valid, typed with or without separators.
create function pg_temp.card_number(method text, payload bigint, style_u float8) returns text
language sql immutable parallel safe as $$
    select case
        when style_u < 0.70 then payload::text || pg_temp.luhn_check_digit(payload)::text
        when method = 'AMEX' then regexp_replace(payload::text || pg_temp.luhn_check_digit(payload)::text, '^(\d{4})(\d{6})(\d{5})$', '\1 \2 \3')
        when style_u < 0.90 then regexp_replace(payload::text || pg_temp.luhn_check_digit(payload)::text, '(\d{4})(?=\d)', '\1 ', 'g')
        else regexp_replace(payload::text || pg_temp.luhn_check_digit(payload)::text, '(\d{4})(?=\d)', '\1-', 'g')
    end
$$;

-- ---------------------------------------------------------------------------------------
-- Orders
-- ---------------------------------------------------------------------------------------

create function pg_temp.order_no(o bigint) returns int
language sql immutable parallel safe as $$
    select (100000 + o)::int
$$;

-- Order numbers whose header row was deleted: their lines and payments are still there.
create function pg_temp.order_has_header(o bigint) returns boolean
language sql immutable parallel safe as $$
    select not pg_temp.flag('payment.unknown_order', o)
$$;

create function pg_temp.order_currency(o bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.draw('order.currency', o)
$$;

create function pg_temp.order_line_count(o bigint) returns int
language sql immutable parallel safe as $$
    select pg_temp.draw('order.line_count', o)::int
$$;

-- The moment order o was placed: order numbers follow time, evenly over the history. (Stable,
-- not immutable: PostgreSQL marks timestamptz + interval stable.)
create function pg_temp.order_instant(o bigint) returns timestamptz
language sql stable parallel safe as $$
    select pg_temp.history_start()
        + pg_temp.seconds((o - 1 + pg_temp.rnd(o, 'order.instant')) * pg_temp.history_seconds() / pg_temp.param('count.orders'))
$$;

-- ORDER_DT as stored: New York wall-clock time. Some orders were keyed in the hour that comes
-- twice when the clocks go back, and some (a legacy bug) in the hour that does not exist when
-- they go forward: on the changeover day nearest to when the order was placed.
create function pg_temp.order_placed(o bigint, natural_local timestamp) returns timestamp
language sql immutable parallel safe as $$
    select case pg_temp.draw('order.placed_special', o)
        when 'spring_gap' then
            pg_temp.spring_forward_day(pg_temp.history_year(extract(year from natural_local + interval '4 months')::int))
            + interval '2 hours' + pg_temp.seconds(pg_temp.rnd(o, 'order.special_second') * 3600)
        when 'autumn_repeat' then
            pg_temp.fall_back_day(pg_temp.history_year(extract(year from natural_local - interval '5 months')::int))
            + interval '1 hour' + pg_temp.seconds(pg_temp.rnd(o, 'order.special_second') * 3600)
        else natural_local
    end
$$;

-- The customer number of order o: anyone who existed when it was placed (customer numbers
-- follow time too), so the oldest customers have the most orders.
create function pg_temp.order_customer_no(o bigint) returns bigint
language sql immutable parallel safe as $$
    select 1 + floor(pg_temp.rnd(o, 'order.customer_no')
        * (floor((o - 1) * pg_temp.param('count.customers') / pg_temp.param('count.orders')) + 1))::bigint
$$;

-- NOTES: free text pasted from e-mails and old clients.
create function pg_temp.note_snippet(u float8) returns text
language sql immutable parallel safe as $$
    select pg_temp.pick_from(array[
        E'Leave at back door.\nRing twice.',
        'Customer says: "deliver after 5pm"',
        E'Gift wrap:\tyes\tcard: "Happy birthday!"',
        'Invoice copy to \\fileserver\invoices\2011\',
        'Meet at CafÃ© Central, ask for JosÃ©',
        'Thanks so much! 🎉',
        E'Typed in the old Windows client\r\nsecond line',
        'O''Reilly''s order - call before shipping',
        '🚚 express shipping requested',
        'Do not call before 9am',
        'Müller asked for a receipt; Straße number missing',
        'PO #4471; ref=ABC\123',
        'Resent after return (RMA 2231)',
        E'Backslash-n typed literally: line1\\nline2',
        'naÃ¯ve customer, be patient 🙂'
    ], u)
$$;

create function pg_temp.note_text(k bigint) returns text
language sql immutable parallel safe as $$
    select pg_temp.note_snippet(pg_temp.rnd(k, 'note.first'))
        || case when pg_temp.rnd(k, 'note.more') < 0.3 then E'\n' || pg_temp.note_snippet(pg_temp.rnd(k, 'note.second')) else '' end
$$;

-- A whole e-mail thread pasted into NOTES: more than 64 KiB.
create function pg_temp.huge_note(k bigint) returns text
language sql immutable parallel safe as $$
    select 'Pasted thread ' || k::text || E':\n'
        || repeat(E'> Kunde: "Lieferung an CafÃ© Müller, Tür 3" \\ ok 🚚\tcheck\n', 1400)
$$;

-- A customer's address field typed again for an order: upper case, or with doubled and
-- trailing blanks. Normalising case and blanks gives the customer's value back.
create function pg_temp.vary_text(value text, variation text) returns text
language sql immutable parallel safe as $$
    select case variation
        when 'upper' then pg_temp.upper_c(value)
        when 'blanks' then replace(value, ' ', '  ') || ' '
        else value
    end
$$;

-- ADDR1 may also have its street suffix written out or abbreviated the other way.
create function pg_temp.vary_addr1(addr1 text, variation text) returns text
language sql immutable parallel safe as $$
    select case
        when variation <> 'street_suffix' then pg_temp.vary_text(addr1, variation)
        when addr1 like '% St' then left(addr1, -3) || ' Street'
        when addr1 like '% Street' then left(addr1, -7) || ' St.'
        when addr1 like '% Ave' then left(addr1, -4) || ' Avenue'
        when addr1 like '% Avenue' then left(addr1, -7) || ' Ave.'
        when addr1 like '% Rd' then left(addr1, -3) || ' Road'
        when addr1 like '% Road' then left(addr1, -5) || ' Rd.'
        when addr1 like '%straße %' then replace(addr1, 'straße ', 'str. ')
        when addr1 like '%str. %' then replace(addr1, 'str. ', 'straße ')
        else addr1
    end
$$;
