"""The landing contract (``shared/contracts/landing.md``) as data.

One :class:`Column` per column of each source file. The loader's record checks,
the raw tables' DDL and the generator all read these definitions, so a change
to the contract is a change here.

Reason codes set aside with a record are ``"<rule>:<column>"`` (see ``RULES``);
faults that fail a whole file are the ``FAULT_*`` codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---- what a bad record gets: "<rule>:<column>" -----------------------------------
RULES = {
    "malformed_record": "the line is not a record of this file (wrong number of fields, "
    "not a JSON object, a NUL byte)",
    "missing_value": "a required value is empty or null",
    "bad_value": "a value that cannot be read as its type (number, date, timestamp with "
    "offset, at most 2 decimals, length limit, JSON type)",
    "unknown_code": "a code outside the contract's list (codes are upper case)",
    "not_positive": "an amount that must be > 0",
    "out_of_range": "a number or date outside its allowed range",
    "out_of_order": "a timestamp or date earlier than one it must follow",
    "wrong_business_date": "a timestamp that does not fall on the drop's business date "
    "in the bank's time zone",
    "duplicate_id": "an id seen before in the same file or in another business date",
    "unknown_reference": "a reference to an account, customer or agent that is not in the "
    "snapshot in force for the business date",
    # docs/contracts/landing-additions.md; the column is the key, masked when not a field name
    "unexpected_field": "a JSON key the contract does not know (a CSV column outside it fails the file)",
}

# ---- what a file that cannot be trusted as a whole gets ---------------------------
FAULT_MISSING_MANIFEST = "missing_manifest"
FAULT_BAD_MANIFEST = "bad_manifest"
FAULT_MISSING_FILE = "missing_file"
FAULT_UNSAFE_PATH = "unsafe_path"
FAULT_CHECKSUM = "checksum_mismatch"
FAULT_ROW_COUNT = "row_count_mismatch"
FAULT_MISSING_COLUMNS = "missing_columns"
FAULT_UNEXPECTED_COLUMNS = "unexpected_columns"
FAULT_UNDECODABLE = "undecodable"
FAULT_TRUNCATED = "truncated_compression"
FAULT_TOO_LARGE = "too_large"
FAULT_MALFORMED_FILE = "malformed_file"
FAULT_THRESHOLD = "quarantine_threshold_exceeded"

ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD
    BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER
    ZAR ZMW ZWL""".split()
)


@dataclass(frozen=True)
class Column:
    """One column of a landing file.

    kind: ``text``, ``code``, ``decimal``, ``timestamp``, ``date``, ``int``, ``bool``.
    ``sql_type`` is the raw table's type; ``personal`` marks personal data.
    """

    name: str
    kind: str
    required: bool = True
    max_len: int | None = None
    codes: frozenset[str] | None = None
    min_value: int | None = None
    max_value: int | None = None
    personal: bool = False

    @property
    def sql_type(self) -> str:
        return {
            "text": "text",
            "code": "text",
            "decimal": "numeric(18,2)",
            "timestamp": "timestamptz",
            "date": "date",
            "int": "integer",
            "bool": "boolean",
        }[self.kind]


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.replace(",", " ").split())


@dataclass(frozen=True)
class SourceFile:
    """A kind of file in a drop: its base name, format, columns and id column."""

    entity: str  # transactions, calls, customers, accounts, agents
    fmt: str  # csv or jsonl
    columns: tuple[Column, ...]
    id_column: str
    is_snapshot: bool
    required_in_drop: bool
    # id unique across all business dates (ledger entries, calls) or only in the file
    id_unique_across_history: bool = False
    references: tuple[tuple[str, str], ...] = field(default=())  # (column, entity)

    @property
    def base_name(self) -> str:
        return f"{self.entity}.{self.fmt}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


TRANSACTIONS = SourceFile(
    entity="transactions",
    fmt="csv",
    id_column="txn_id",
    is_snapshot=False,
    required_in_drop=True,
    id_unique_across_history=True,
    references=(("account_id", "accounts"),),
    columns=(
        Column("txn_id", "text", max_len=40),
        Column("account_id", "text", max_len=32),
        Column("txn_ts", "timestamp"),
        Column("amount", "decimal"),
        Column("currency", "code", codes=ISO_4217),
        Column("direction", "code", codes=_codes("CREDIT DEBIT")),
        Column(
            "txn_type",
            "code",
            codes=_codes(
                "DEPOSIT WITHDRAWAL TRANSFER PAYMENT CARD_PURCHASE FEE INTEREST "
                "LOAN_REPAYMENT REVERSAL"
            ),
        ),
        Column("channel", "code", codes=_codes("BRANCH ATM POS ONLINE MOBILE PHONE SYSTEM")),
        Column("branch_id", "text", required=False),  # required when channel = BRANCH
        Column("balance_after", "decimal"),
        Column("counterparty_account", "text", required=False, personal=True),
        Column("counterparty_bank", "text", required=False),
        Column("reverses_txn_id", "text", required=False),  # required for REVERSAL
    ),
)

CALLS = SourceFile(
    entity="calls",
    fmt="jsonl",
    id_column="call_id",
    is_snapshot=False,
    required_in_drop=True,
    id_unique_across_history=True,
    references=(("agent_id", "agents"),),
    columns=(
        Column("call_id", "text", max_len=64),
        Column("direction", "code", codes=_codes("INBOUND OUTBOUND")),
        Column("customer_id", "text", required=False),
        Column("caller_number", "text", required=False, personal=True),
        Column(
            "service",
            "code",
            codes=_codes("RETAIL PREMIUM CREDIT_CARD INTERNET_BANKING PROSPECT CALLBACK"),
        ),
        Column("priority", "int", min_value=0, max_value=2),
        Column("ivr_entry_ts", "timestamp"),
        Column("ivr_exit_ts", "timestamp"),
        Column("queue_entry_ts", "timestamp", required=False),
        Column("queue_exit_ts", "timestamp", required=False),
        Column("answer_ts", "timestamp", required=False),
        Column("end_ts", "timestamp"),
        Column("outcome", "code", codes=_codes("ANSWERED ABANDONED IVR_ONLY")),
        Column("agent_id", "text", required=False),
        Column("hold_seconds", "int", required=False, min_value=0),
        Column("wrap_up_seconds", "int", required=False, min_value=0),
        Column(
            "reason_code",
            "code",
            required=False,
            codes=_codes("INQUIRY TRANSACTION COMPLAINT CARD_LOST LOAN SALES TECH_SUPPORT OTHER"),
        ),
        Column("resolved", "bool", required=False),
        Column("csat_score", "int", required=False, min_value=1, max_value=5),
        Column("campaign_id", "text", required=False),
    ),
)

CUSTOMERS = SourceFile(
    entity="customers",
    fmt="csv",
    id_column="customer_id",
    is_snapshot=True,
    required_in_drop=False,
    columns=(
        Column("customer_id", "text", max_len=32),
        Column("full_name", "text", personal=True),
        Column("gender", "code", codes=_codes("M F U")),
        Column("birth_date", "date"),  # not after the business date; age <= 120
        Column(
            "education",
            "code",
            codes=_codes("PRIMARY SECONDARY BACHELOR POSTGRADUATE UNKNOWN"),
        ),
        Column("city", "text"),
        Column("phone", "text", required=False, personal=True),
        Column("email", "text", required=False, personal=True),
        Column("segment", "code", codes=_codes("MASS AFFLUENT PRIVATE")),
        Column("join_date", "date"),
        Column("kyc_status", "code", codes=_codes("VERIFIED PENDING EXPIRED")),
    ),
)

ACCOUNTS = SourceFile(
    entity="accounts",
    fmt="csv",
    id_column="account_id",
    is_snapshot=True,
    required_in_drop=False,
    references=(("customer_id", "customers"),),
    columns=(
        Column("account_id", "text", max_len=32),
        Column("customer_id", "text", max_len=32),
        Column(
            "product",
            "code",
            codes=_codes("CURRENT SAVINGS TIME_DEPOSIT CREDIT_CARD LOAN WEALTH"),
        ),
        Column("currency", "code", codes=ISO_4217),
        Column("open_date", "date"),
        Column("close_date", "date", required=False),  # >= open_date
        Column("status", "code", codes=_codes("ACTIVE DORMANT CLOSED")),
        Column("branch_id", "text"),
    ),
)

AGENTS = SourceFile(
    entity="agents",
    fmt="csv",
    id_column="agent_id",
    is_snapshot=True,
    required_in_drop=False,
    columns=(
        Column("agent_id", "text", max_len=32),
        Column("agent_name", "text", personal=True),
        Column("team", "text"),
        Column("site", "text"),
        Column("hire_date", "date"),
    ),
)

#: In load order: a file's references point only to files before it.
SOURCE_FILES: tuple[SourceFile, ...] = (CUSTOMERS, ACCOUNTS, AGENTS, TRANSACTIONS, CALLS)
BY_ENTITY = {f.entity: f for f in SOURCE_FILES}

DEFAULT_TIMEZONE = "Asia/Shanghai"
MANIFEST_NAME = "_manifest.json"


def source_for_file_name(file_name: str) -> SourceFile | None:
    """The source file a manifest entry names (``transactions.csv.gz`` -> TRANSACTIONS)."""
    for src in SOURCE_FILES:
        if file_name in (src.base_name, src.base_name + ".gz"):
            return src
    return None
