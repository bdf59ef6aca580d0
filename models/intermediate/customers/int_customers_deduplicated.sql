{{
    config(
        unique_key='cust_id',
        incremental_strategy='sync_replace',
        indexes=[
            {'columns': ['cust_id'], 'unique': true},
            {'columns': ['email']},
            {'columns': ['batch_watermark']},
        ],
    )
}}

-- depends_on: {{ ref('sync_batches') }}

with

customers as not materialized (
    select * from {{ ref('stg_oms__customers') }}
),

statuses as not materialized (
    select * from {{ ref('customer_statuses') }}
),

{% if is_incremental() %}
    -- Only customers written since the last batch, plus every customer sharing an e-mail they
    -- had or have now: those are all whose survivor or e-mail ownership can have changed.
    changed as (
        select
            customers.cust_id,
            customers.email
        from customers
        where {{ in_sync_batch('customers.synced_at') }}
    ),

    touched_emails as (
        select changed.email from changed
        where changed.email is not null
        union
        select previous.email
        from {{ this }} as previous
        inner join changed on previous.cust_id = changed.cust_id
        where previous.email is not null
    ),

    in_scope as (
        select changed.cust_id from changed
        union
        select previous.cust_id
        from {{ this }} as previous
        where previous.email in (select touched_emails.email from touched_emails)
    ),
{% endif %}

resolved as (
    select
        customers.cust_id,
        customers.given_name,
        customers.family_name,
        customers.display_name,
        customers.is_company,
        customers.email,
        customers.email_raw,
        customers.email is null and nullif(btrim(customers.email_raw), '') is not null as has_invalid_email,
        customers.phone_e164,
        customers.phone_raw,
        customers.phone_extension,
        customers.line1,
        customers.line2,
        customers.city,
        customers.region,
        customers.postal_code,
        customers.country_code,
        customers.country_raw,
        customers.created_raw,
        customers.created_at,
        customers.status_code,
        statuses.status,
        customers.updated_at,
        customers.email || ' ' || customers.name_match_key as dedup_key,
        customers.synced_at,
        customers.is_deleted,
        case
            when customers.is_deleted then null
            when customers.country_code is null then 'customer_country_unmapped'
            when customers.status_code <> '' and statuses.status is null then 'customer_status_unknown'
        end as quarantine_rule
    from customers
    left join statuses on customers.status_code = statuses.legacy_code
    {% if is_incremental() %}
        where customers.cust_id in (select in_scope.cust_id from in_scope)
    {% endif %}
),

survivors as (
    -- The earliest live, migratable customer of each duplicate group survives.
    select
        dedup_key,
        min(cust_id) as survivor_cust_id
    from resolved
    where
        dedup_key is not null
        and not is_deleted
        and quarantine_rule is null
    group by dedup_key
),

decided as (
    select
        resolved.*,
        case
            when resolved.is_deleted then 'deleted'
            when resolved.quarantine_rule is not null then 'quarantined'
            when survivors.survivor_cust_id is null or survivors.survivor_cust_id = resolved.cust_id then 'migrated'
            else 'merged'
        end as disposition,
        survivors.survivor_cust_id
    from resolved
    left join survivors on resolved.dedup_key = survivors.dedup_key
),

email_owners as (
    -- app.customer.email is unique: when customers who are not duplicates of each other (their
    -- names differ) share an e-mail, the earliest keeps it and the others get NULL and a finding.
    select
        email,
        min(cust_id) as owner_cust_id
    from decided
    where disposition = 'migrated' and email is not null
    group by email
),

{%- set billing_address = [
    'decided.line1', 'decided.line2', 'decided.city', 'decided.region', 'decided.postal_code', 'decided.country_code'
] %}

current_rows as (
    select
        decided.cust_id,
        decided.disposition,
        case decided.disposition
            when 'migrated' then decided.cust_id
            when 'merged' then decided.survivor_cust_id
        end as customer_id,
        decided.quarantine_rule,
        case decided.quarantine_rule
            when 'customer_country_unmapped'
                then 'country ''' || decided.country_raw || ''' is not in seed country_codes'
            when 'customer_status_unknown'
                then 'status code ''' || decided.status_code || ''' is not in seed customer_statuses'
        end as quarantine_reason,
        decided.given_name,
        decided.family_name,
        decided.display_name,
        decided.is_company,
        decided.email,
        case when email_owners.owner_cust_id = decided.cust_id then decided.email end as unique_email,
        coalesce(email_owners.owner_cust_id <> decided.cust_id, false) as has_shared_email,
        email_owners.owner_cust_id as email_owner_cust_id,
        decided.email_raw,
        decided.has_invalid_email,
        decided.phone_e164,
        decided.phone_raw,
        decided.phone_extension,
        case
            when coalesce(decided.line1, decided.line2, decided.city, decided.postal_code) is not null
                then {{ address_hash(*billing_address) }}
        end as billing_address_hash,
        decided.line1,
        decided.line2,
        decided.city,
        decided.region,
        decided.postal_code,
        decided.country_code,
        decided.created_raw,
        decided.created_at,
        decided.status_code,
        decided.status,
        decided.updated_at,
        decided.dedup_key,
        decided.synced_at,
        {{ sync_high_watermark() }} as batch_watermark
    from decided
    left join email_owners on decided.email = email_owners.email
),

final as (
    select
        latest.*,
        {{ has_changed_fate(['disposition', 'customer_id']) }} as has_changed_fate
    from current_rows as latest
    {% if is_incremental() %}
        left join {{ this }} as previous on latest.cust_id = previous.cust_id
    {% endif %}
)

select * from final
