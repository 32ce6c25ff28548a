{#
    The incremental facts' repair step, shared by fct_transactions and fct_calls.

    A built row must be rebuilt when its member keys would now resolve differently. Every
    row resolved consistently with the dimensions of the fact's previous run, so only rows
    of members whose dimension rows changed since then can differ. Each run of a fact saves
    the members as it resolved them (post_hook save_member_state: one row per account,
    customer and agent with what the resolution depends on) in a state table beside the
    intermediates; the next run compares that state with the dimensions now and checks
    only the rows of changed members (through the fact's indexes on the member ids). Without
    a saved state (first build, dropped schema) every row is checked.

    Members (`kinds`): 'account' (dim_account: exists, owner), 'customer' (dim_customer:
    its versions' keys and validity), 'agent' (dim_agent: exists).
#}

{# The state table of the fact being built: in the intermediates' schema (never published),
   named after the fact's own schema so that two builds of the fact never share one. #}
{% macro member_state_identifier() -%}
    {{- return((this.schema ~ '__' ~ this.identifier ~ '__members_seen')[:63]) -}}
{%- endmacro %}

{% macro member_state_relation() -%}
    {{- return(api.Relation.create(
        database=this.database, schema=target.schema, identifier=member_state_identifier()
    )) -}}
{%- endmacro %}

{# member, member_id, detail: what a row's resolution depends on, per member now. #}
{% macro member_state_sql(kinds) -%}
    {%- set parts = [] -%}
    {%- if 'account' in kinds -%}
        {%- do parts.append(
            "select 'account' as member, account_id as member_id, coalesce(customer_id, '') as detail from "
            ~ ref('dim_account') ~ " where account_key <> " ~ unknown_key()
        ) -%}
    {%- endif -%}
    {%- if 'customer' in kinds -%}
        {%- do parts.append(
            "select 'customer' as member, customer_id as member_id, string_agg(concat_ws('|', customer_key, valid_from, valid_to, is_first_version), ',' order by valid_from, customer_key) as detail from "
            ~ ref('dim_customer') ~ " where customer_key <> " ~ unknown_key() ~ " group by customer_id"
        ) -%}
    {%- endif -%}
    {%- if 'agent' in kinds -%}
        {%- do parts.append(
            "select 'agent' as member, agent_id as member_id, '' as detail from "
            ~ ref('dim_agent') ~ " where agent_key <> " ~ unknown_key()
        ) -%}
    {%- endif -%}
    {{ parts | join('\nunion all\n') }}
{%- endmacro %}

{#
    post_hook: save the members as this run resolved them (in the fact's transaction), and
    index the member id columns the next run's repair looks rows up by (an index that
    `indexes` config would add only when the table is first created).
#}
{% macro save_member_state(kinds, columns) -%}
    {%- for column in columns %}
    create index if not exists {{ (this.identifier ~ '__' ~ column ~ '__repair')[:63] }} on {{ this }} ({{ column }});
    {%- endfor %}
    {%- set state = member_state_relation() -%}
    create table if not exists {{ state }} (member text not null, member_id text not null, detail text not null);
    delete from {{ state }};
    insert into {{ state }} (member, member_id, detail)
    {{ member_state_sql(kinds) }}
{%- endmacro %}

{#
    The built rows (of {{ this }}) whose keys may resolve differently now, as a select of
    whole rows: with a saved state, the rows of changed members (`columns`: member -> the
    fact's id column, e.g. {'account': 'account_id', 'customer': 'customer_id'}); a row
    may appear twice. Without a state: every row.
#}
{% macro fact_repair_candidates(columns) -%}
    {%- set state = adapter.get_relation(
        database=this.database, schema=target.schema, identifier=member_state_identifier()
    ) if execute else none -%}
    {%- if state is none -%}
        select * from {{ this }}
    {%- else -%}
        {%- set kinds = columns.keys() | list | sort -%}
        {%- set selects = [] -%}
        {%- for kind in kinds -%}
            {%- do selects.append(
                "select built.* from " ~ this ~ " as built where built." ~ columns[kind]
                ~ " in (select changed.member_id from changed_members as changed where changed.member = '" ~ kind ~ "')"
            ) -%}
        {%- endfor -%}
        with
        now_members as (
            {{ member_state_sql(kinds) }}
        ),
        changed_members as (
            select coalesce(now_members.member, seen.member) as member,
                coalesce(now_members.member_id, seen.member_id) as member_id
            from now_members
            full outer join {{ state }} as seen
                on now_members.member = seen.member and now_members.member_id = seen.member_id
            where now_members.member_id is null or seen.member_id is null
                or now_members.detail <> seen.detail
        )
        {{ selects | join('\nunion all\n') }}
    {%- endif -%}
{%- endmacro %}
