{#
    Why: app.customer.email is unique, and within one batch an e-mail can change hands: a customer
    leaves app (merged, deleted or quarantined; its row is only deleted at the end of the run, see
    sync_app_deletes) and the customer that replaces it has the same e-mail, or the earlier of two
    customers sharing an e-mail comes back and takes it over. PostgreSQL checks a unique constraint
    row by row, so the merge would collide with the old holder. Every customer recomputed in this
    batch whose e-mail in app is about to change gives it up first; the merge then writes the new
    values. Pre-hook of app.customer, incremental runs only.
#}
{% macro release_changing_customer_emails() -%}
    {%- if is_incremental() -%}
        {{ planner_settings() }};
        update {{ this }} as customer
        set email = null
        from {{ ref('int_customers_deduplicated') }} as customers
        where
            customer.customer_id = customers.cust_id
            and customers.batch_watermark > {{ sync_low_watermark() }}
            and customer.email is not null
            and (customers.disposition <> 'migrated' or customer.email is distinct from customers.unique_email)
    {%- endif -%}
{%- endmacro %}
