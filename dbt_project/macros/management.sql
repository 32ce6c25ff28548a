{#
    Helpers of the management marts (models/marts/management): currency conversion,
    product lists, the customer-initiated entry rule and the Erlang C staffing function.
#}

{#
    An amount in CNY: amount x the var fx_rates_to_cny rate of its currency; NULL for a
    currency without a rate (never silently 1:1).
#}
{% macro to_cny(amount, currency) -%}
    {%- set rates = var('fx_rates_to_cny') -%}
    {%- set allowed = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' -%}
    ({{ amount }}) * case upper({{ currency }})
    {%- for code, rate in rates.items() %}
        {%- if code | length != 3 or code | reject('in', allowed) | list | length > 0 -%}
            {{- exceptions.raise_compiler_error("var fx_rates_to_cny: bad currency code '" ~ code ~ "'") -}}
        {%- endif -%}
        {%- if not (rate | string | replace('.', '', 1)).isdigit() -%}
            {{- exceptions.raise_compiler_error("var fx_rates_to_cny: rate of " ~ code ~ " is not a number") -}}
        {%- endif %}
        when '{{ code }}' then cast({{ rate }} as numeric)
    {%- endfor %}
    end
{%- endmacro %}

{# The var deposit_products as a SQL list of literals: ('CURRENT', 'SAVINGS', ...). #}
{% macro deposit_products() -%}
    {%- set products = var('deposit_products') -%}
    {%- set allowed = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_' -%}
    (
    {%- for product in products -%}
        {%- if product | reject('in', allowed) | list | length > 0 -%}
            {{- exceptions.raise_compiler_error("var deposit_products: bad product '" ~ product ~ "'") -}}
        {%- endif -%}
        '{{ product }}'{{ ', ' if not loop.last }}
    {%- endfor -%}
    )
{%- endmacro %}

{#
    True for a ledger entry the customer made: not on the bank's INTERNAL channel group
    (SYSTEM) and not an interest or fee posting. Dormancy and "stopped transacting" use it.
#}
{% macro is_customer_initiated(channel_group, txn_type) -%}
    ({{ channel_group }} <> 'INTERNAL' and {{ txn_type }} not in ('INTEREST', 'FEE'))
{%- endmacro %}

{#
    pre_hook: (re)creates <schema>.erlang_c_agents_required(calls, aht_seconds,
    interval_seconds, target, answer_seconds) in the model's schema.

    Erlang C: offered traffic A = calls x AHT / interval (Erlang). With N agents, the
    probability that a call waits is C(N, A) = N B / (N - A (1 - B)), B = Erlang B(N, A)
    from the stable recursion B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1)); the service level
    is SL = 1 - C(N, A) exp(-(N - A) T / AHT). The function returns the smallest N > A with
    SL >= target; 0 when no calls; NULL when AHT is unknown (no answered call) or not positive.
#}
{% macro create_erlang_c_function(schema) -%}
create or replace function {{ schema }}.erlang_c_agents_required(
    calls numeric, aht_seconds numeric, interval_seconds numeric, target numeric, answer_seconds numeric
) returns integer
language plpgsql immutable
as $erlang$
declare
    traffic double precision;
    erlang_b double precision := 1;
    wait_probability double precision;
    service_level double precision;
    agents integer := 0;
begin
    if calls is null or calls <= 0 then
        return 0;
    end if;
    if aht_seconds is null or aht_seconds <= 0 or interval_seconds <= 0 then
        return null;
    end if;
    traffic := calls * aht_seconds / interval_seconds;
    loop
        agents := agents + 1;
        erlang_b := traffic * erlang_b / (agents + traffic * erlang_b);
        if agents > traffic then
            wait_probability := agents * erlang_b / (agents - traffic * (1 - erlang_b));
            service_level := 1 - wait_probability * exp(-(agents - traffic) * answer_seconds / aht_seconds);
            if service_level >= target then
                return agents;
            end if;
        end if;
        if agents >= 100000 then
            return null;
        end if;
    end loop;
end
$erlang$
{%- endmacro %}

{#
    A call of the Erlang C function created by create_erlang_c_function in `schema`.
    In a dbt unit test of the model (`model` is the unit test: hooks never run and `this` is no
    relation) the function is created in the session's own temporary schema, at compile time, on
    the connection that then runs the test: the test needs no function left by an earlier build
    (on a first build the unit test runs before the model) and changes nothing in the warehouse.
    Model runs never take that branch.
#}
{% macro erlang_c_agents_required(schema, calls, aht_seconds, interval_seconds, target, answer_seconds) -%}
    {%- if execute and model.resource_type == 'unit_test' -%}
        {%- do run_query(create_erlang_c_function('pg_temp')) -%}
        {%- set schema = 'pg_temp' -%}
    {%- endif -%}
    {{ schema }}.erlang_c_agents_required(
        cast({{ calls }} as numeric), cast({{ aht_seconds }} as numeric), cast({{ interval_seconds }} as numeric),
        cast({{ target }} as numeric), cast({{ answer_seconds }} as numeric)
    )
{%- endmacro %}
