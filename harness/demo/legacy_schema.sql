-- The legacy order-management system ("OMS") of the worked migration.
-- Upper-case identifiers, no foreign keys, local New York timestamps: as ported from Oracle.
create schema if not exists "oms";

create table "oms"."CUSTOMER" (
    "CUST_ID"    integer primary key,
    "CUST_NM"    varchar(120) not null,
    "EMAIL_ADDR" varchar(200),
    "PHONE"      varchar(40),
    "ADDR1"      varchar(100),
    "ADDR2"      varchar(100),
    "CITY"       varchar(60),
    "STATE_CD"   varchar(20),
    "POSTAL_CD"  varchar(20),
    "CTRY"       varchar(40),
    "CREATED"    varchar(20),
    "STATUS"     char(1),
    "LAST_UPD"   timestamp
);

create table "oms"."PRODUCT" (
    "SKU"      varchar(20) primary key,
    "DESCR"    varchar(200),
    "CAT_PATH" varchar(200),
    "PRICE"    double precision,
    "ACTIVE"   varchar(3),
    "LAST_UPD" timestamp
);

create table "oms"."ORDER_HDR" (
    "ORDER_NO"    integer primary key,
    "CUST_ID"     integer,
    "ORDER_DT"    timestamp,
    "STATUS_CD"   varchar(10),
    "SHIP_NM"     varchar(120),
    "SHIP_ADDR1"  varchar(100),
    "SHIP_ADDR2"  varchar(100),
    "SHIP_CITY"   varchar(60),
    "SHIP_STATE"  varchar(20),
    "SHIP_POSTAL" varchar(20),
    "SHIP_CTRY"   varchar(40),
    "ORDER_TOTAL" varchar(20),
    "CURR_CD"     char(3),
    "NOTES"       text,
    "LAST_UPD"    timestamp
);

create table "oms"."ORDER_LINE" (
    "ORDER_NO"   integer not null,
    "LINE_NO"    integer not null,
    "SKU"        varchar(20),
    "QTY"        integer,
    "UNIT_PRICE" double precision,
    "DISC_PCT"   numeric(5, 2),
    "LAST_UPD"   timestamp,
    primary key ("ORDER_NO", "LINE_NO")
);

create table "oms"."PAYMENT" (
    "PAY_ID"   integer primary key,
    "ORDER_NO" integer,
    "METHOD"   varchar(12),
    "AMOUNT"   numeric(12, 2),
    "PAID_AT"  timestamp,
    "CARD_NO"  varchar(25),
    "LAST_UPD" timestamp
);
