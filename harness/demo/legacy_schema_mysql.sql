-- The legacy OMS of the worked migration as a MySQL or MariaDB database: the tables of
-- legacy_schema.sql, each column of the MySQL type that lands as the PostgreSQL legacy's column
-- lands (harness/engines/mysql/types.py), so that the dbt models read the same landing tables.
-- DATETIME(6) holds LAST_UPD's zero dates ('0000-00-00 00:00:00'); CITY is latin1 (it holds some
-- cities' UTF-8 bytes); PRODUCT.SKU is binary without padding; the rest is utf8mb4 under the
-- server's case-insensitive PAD SPACE collation.
create table `CUSTOMER` (
    `CUST_ID`    int primary key,
    `CUST_NM`    varchar(120) not null,
    `EMAIL_ADDR` varchar(200),
    `PHONE`      varchar(40),
    `ADDR1`      varchar(100),
    `ADDR2`      varchar(100),
    `CITY`       varchar(60) character set latin1,
    `STATE_CD`   varchar(20),
    `POSTAL_CD`  varchar(20),
    `CTRY`       varchar(40),
    `CREATED`    varchar(20),
    `STATUS`     char(1),
    `LAST_UPD`   datetime(6)
) engine=InnoDB default charset=utf8mb4;

create table `PRODUCT` (
    -- binary and NO PAD: the twins keyed in again with a trailing blank or in other case stay two
    -- keys, as in PostgreSQL (under the server's PAD SPACE, case-insensitive collation they collide)
    `SKU`      varchar(20) collate utf8mb4_nopad_bin primary key,
    `DESCR`    varchar(200),
    `CAT_PATH` varchar(200),
    `PRICE`    double,
    `ACTIVE`   varchar(3),
    `LAST_UPD` datetime(6)
) engine=InnoDB default charset=utf8mb4;

create table `ORDER_HDR` (
    `ORDER_NO`    int primary key,
    `CUST_ID`     int,
    `ORDER_DT`    datetime(6),
    `STATUS_CD`   varchar(10),
    `SHIP_NM`     varchar(120),
    `SHIP_ADDR1`  varchar(100),
    `SHIP_ADDR2`  varchar(100),
    `SHIP_CITY`   varchar(60),
    `SHIP_STATE`  varchar(20),
    `SHIP_POSTAL` varchar(20),
    `SHIP_CTRY`   varchar(40),
    `ORDER_TOTAL` varchar(20),
    `CURR_CD`     char(3),
    `NOTES`       longtext,
    `LAST_UPD`    datetime(6)
) engine=InnoDB default charset=utf8mb4;

create table `ORDER_LINE` (
    `ORDER_NO`   int not null,
    `LINE_NO`    int not null,
    `SKU`        varchar(20),
    `QTY`        int,
    `UNIT_PRICE` double,
    `DISC_PCT`   decimal(5, 2),
    `LAST_UPD`   datetime(6),
    primary key (`ORDER_NO`, `LINE_NO`)
) engine=InnoDB default charset=utf8mb4;

create table `PAYMENT` (
    `PAY_ID`   int primary key,
    `ORDER_NO` int,
    `METHOD`   varchar(12),
    `AMOUNT`   decimal(12, 2),
    `PAID_AT`  datetime(6),
    `CARD_NO`  varchar(25),
    `LAST_UPD` datetime(6)
) engine=InnoDB default charset=utf8mb4
