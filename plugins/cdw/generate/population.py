"""The bank's customers, accounts and contact-centre roster, and how they change day by day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from . import reference as ref

CUSTOMER_COLUMNS = [
    "customer_id", "full_name", "gender", "birth_date", "education", "city", "phone", "email",
    "segment", "join_date", "kyc_status",
]  # fmt: skip
ACCOUNT_COLUMNS = [
    "account_id",
    "customer_id",
    "product",
    "currency",
    "open_date",
    "close_date",
    "status",
    "branch_id",
]
AGENT_COLUMNS = ["agent_id", "agent_name", "team", "site", "hire_date"]

_SURNAME_P = np.array([s[2] for s in ref.SURNAMES]) / sum(s[2] for s in ref.SURNAMES)
_CITY_P = np.array([c[2] for c in ref.CITIES], dtype=float) / sum(c[2] for c in ref.CITIES)


def luhn_digit(number: str) -> str:
    """Check digit of a card/account number (the bank's account numbers carry one)."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def account_number(index: int) -> str:
    body = f"621700{index:09d}"
    return body + luhn_digit(body)


def branch_ids(city_index: int) -> list[str]:
    _, code, _, n = ref.CITIES[city_index]
    return [f"BR{code}{i:03d}" for i in range(1, n + 1)]


def tier_of(total_cny: np.ndarray) -> np.ndarray:
    """The bank's segment rule on total deposits in CNY."""
    return np.searchsorted(np.array(ref.SEGMENT_FLOOR_CNY[1:]), total_cny, side="right")


def person(rng: np.random.Generator) -> tuple[str, str, str]:
    """(full name, gender, pinyin) of a random person."""
    s = ref.SURNAMES[rng.choice(len(ref.SURNAMES), p=_SURNAME_P)]
    gender = "M" if rng.random() < 0.5 else "F"
    given = ref.MALE_GIVEN if gender == "M" else ref.FEMALE_GIVEN
    g = given[rng.integers(len(given))]
    return s[0] + g[0], gender, s[1] + g[1]


def mobile(rng: np.random.Generator) -> str:
    prefix = rng.choice(["13", "15", "18", "17", "19"], p=[0.35, 0.25, 0.25, 0.08, 0.07])
    return f"+86{prefix}{rng.integers(0, 10**9):09d}"


@dataclass
class Agent:
    agent_id: str
    name: str
    team: str
    site: str
    hire_date: date
    shift: str  # not in the roster file: the workforce-management schedule
    weekend_rota: int  # works Saturdays (0), Sundays (1) or neither (2)
    leave_date: date | None = None

    def row(self) -> list[str]:
        return [self.agent_id, self.name, self.team, self.site, self.hire_date.isoformat()]


@dataclass
class Bank:
    start: date
    customers: list[dict] = field(default_factory=list)
    wealth_factor: list[float] = field(default_factory=list)  # per customer: spending scale
    # accounts: parallel numpy arrays (grow by concatenation)
    acc_id: list[str] = field(default_factory=list)
    acc_cust: np.ndarray = None
    acc_product: np.ndarray = None
    acc_currency: np.ndarray = None
    acc_status: np.ndarray = None
    acc_open: list[date] = field(default_factory=list)
    acc_close: list[date | None] = field(default_factory=list)
    acc_branch: list[str] = field(default_factory=list)
    balance: np.ndarray = None  # cents, account currency
    floor: np.ndarray = None  # cents: lowest balance allowed (overdraft on CURRENT only)
    activity: np.ndarray = None  # how often the account is used
    agents: list[Agent] = field(default_factory=list)
    roster_changed: bool = True
    next_customer: int = 1
    next_account: int = 1
    next_agent: int = 1001

    # ---- derived -----------------------------------------------------------------
    def deposits_cny(self) -> np.ndarray:
        """Total deposit balance per customer in CNY."""
        dep = np.isin(self.acc_product, ref.DEPOSIT_PRODUCTS) & (self.acc_status != ref.CLOSED)
        fx = np.array(ref.FX_TO_CNY)[self.acc_currency]
        cny = np.where(dep, np.maximum(self.balance, 0) * fx / 100.0, 0.0)
        return np.bincount(self.acc_cust, weights=cny, minlength=len(self.customers))

    def customer_rows(self) -> list[list[str]]:
        return [[c[k] or "" for k in CUSTOMER_COLUMNS] for c in self.customers]

    def account_rows(self) -> list[list[str]]:
        rows = []
        for i, aid in enumerate(self.acc_id):
            close = self.acc_close[i]
            rows.append(
                [
                    aid,
                    self.customers[self.acc_cust[i]]["customer_id"],
                    ref.PRODUCTS[self.acc_product[i]],
                    ref.CURRENCIES[self.acc_currency[i]],
                    self.acc_open[i].isoformat(),
                    close.isoformat() if close else "",
                    ref.STATUSES[self.acc_status[i]],
                    self.acc_branch[i],
                ]
            )
        return rows

    def roster(self, day: date) -> list[Agent]:
        return [a for a in self.agents if a.hire_date <= day and (a.leave_date is None or a.leave_date > day)]

    # ---- creation ----------------------------------------------------------------
    def _new_customer(self, rng, join: date, wealth_cny: float, segment: int | None = None) -> int:
        name, gender, pinyin = person(rng)
        if rng.random() < 0.015:
            gender = "U"  # not declared
        age_days = int(rng.triangular(18, 38, 88) * 365.25)
        birth = join - timedelta(days=age_days - int((self.start - join).days))
        birth = min(birth, join - timedelta(days=18 * 366))
        city = int(rng.choice(len(ref.CITIES), p=_CITY_P))
        edu_p = np.array(ref.EDUCATION_P)
        if wealth_cny > 300_000:  # wealthier customers are more often graduates
            edu_p = np.array([0.01, 0.14, 0.45, 0.30, 0.10])
        idx = len(self.customers)
        cid = f"C{self.next_customer:09d}"
        self.next_customer += 1
        email = None
        if rng.random() < 0.65:
            email = (
                f"{pinyin}{rng.integers(1, 9999)}@{ref.EMAIL_DOMAINS[rng.integers(len(ref.EMAIL_DOMAINS))]}"
            )
        self.customers.append(
            {
                "customer_id": cid,
                "full_name": name,
                "gender": gender,
                "birth_date": birth.isoformat(),
                "education": ref.EDUCATION[rng.choice(5, p=edu_p)],
                "city": ref.CITIES[city][0],
                "phone": mobile(rng) if rng.random() < 0.97 else None,
                "email": email,
                "segment": ref.SEGMENTS[
                    segment if segment is not None else int(tier_of(np.array([wealth_cny]))[0])
                ],
                "join_date": join.isoformat(),
                "kyc_status": str(rng.choice(["VERIFIED", "PENDING", "EXPIRED"], p=[0.90, 0.04, 0.06])),
                "_city": city,
            }
        )
        self.wealth_factor.append(float(np.clip((max(wealth_cny, 1000) / 30_000) ** 0.3, 0.4, 5.0)))
        return idx

    def _add_accounts(self, rng, specs: list[tuple]) -> None:
        """specs: (customer index, product, currency, open, close, status, balance cents, floor cents)."""
        if not specs:
            return
        cols = list(zip(*specs, strict=True))
        for s in specs:
            self.acc_id.append(account_number(self.next_account))
            self.next_account += 1
            self.acc_open.append(s[3])
            self.acc_close.append(s[4])
            city = self.customers[s[0]]["_city"]
            bids = branch_ids(city)
            self.acc_branch.append(bids[rng.integers(len(bids))])
        act = np.exp(rng.normal(0, 0.8, len(specs)))
        act *= np.where(np.array(cols[1]) == ref.CURRENT, 1.0, 0.5)

        def cat(old, new, dtype):
            new = np.array(new, dtype=dtype)
            return new if old is None else np.concatenate([old, new])

        self.acc_cust = cat(self.acc_cust, cols[0], np.int64)
        self.acc_product = cat(self.acc_product, cols[1], np.int8)
        self.acc_currency = cat(self.acc_currency, cols[2], np.int8)
        self.acc_status = cat(self.acc_status, cols[5], np.int8)
        self.balance = cat(self.balance, cols[6], np.int64)
        self.floor = cat(self.floor, cols[7], np.int64)
        self.activity = cat(self.activity, act, np.float64)


def build_bank(rng: np.random.Generator, start: date, customers: int, agents: int) -> Bank:
    """The bank as it stands the evening before the first business date."""
    bank = Bank(start=start)
    # wealth is lognormal: sigma 1.7 puts ~80 % of deposits with the top 20 % of customers
    wealth = np.exp(rng.normal(np.log(25_000), 1.7, customers))
    tiers = tier_of(wealth)
    specs = []
    for i in range(customers):
        join = start - timedelta(days=int(rng.integers(30, 20 * 365)))
        c = bank._new_customer(rng, join, float(wealth[i]), int(tiers[i]))
        rich = wealth[i] > 100_000
        products = [ref.CURRENT] if rng.random() < 0.97 else []
        if rng.random() < 0.45:
            products.append(ref.SAVINGS)
        if rng.random() < (0.45 if rich else 0.15):
            products.append(ref.TIME_DEPOSIT)
        if rng.random() < (0.70 if wealth[i] > 300_000 else 0.06):
            products.append(ref.WEALTH)
        if rng.random() < 0.35:
            products.append(ref.CREDIT_CARD)
        if rng.random() < 0.12:
            products.append(ref.LOAN)
        if not products:
            products.append(ref.SAVINGS)
        dep = [p for p in products if p in ref.DEPOSIT_PRODUCTS]
        share = rng.dirichlet(
            [{ref.CURRENT: 1.0, ref.SAVINGS: 1.5, ref.TIME_DEPOSIT: 2.5, ref.WEALTH: 3.0}[p] for p in dep]
        )
        shares = dict(zip(dep, share, strict=True))
        for p in products:
            opened = join + timedelta(days=int(rng.integers(0, max(1, (start - join).days))))
            cur = 0
            if p in (ref.CURRENT, ref.SAVINGS, ref.TIME_DEPOSIT):
                cur = int(rng.choice(3, p=[0.92, 0.05, 0.03]))
            elif p == ref.WEALTH:
                cur = int(rng.choice(3, p=[0.88, 0.10, 0.02]))
            status, close = ref.ACTIVE, None
            floor = 0
            if p in ref.DEPOSIT_PRODUCTS:
                bal = wealth[i] * shares[p] / ref.FX_TO_CNY[cur]
                if rng.random() < 0.04:
                    bal = 0.0  # opened, never funded
            elif p == ref.CREDIT_CARD:  # balance = available credit
                limit = [20_000, 80_000, 300_000][tiers[i]] * rng.uniform(0.5, 1.5)
                bal = limit * rng.uniform(0.3, 1.0)
            else:  # LOAN: outstanding principal
                bal = np.exp(rng.normal(np.log(300_000), 0.7))
            if p == ref.CURRENT and rng.random() < 0.3:
                floor = -int(rng.choice([2_000, 5_000, 10_000, 20_000]) * 100)  # overdraft facility
            r = rng.random()
            if p not in (ref.CREDIT_CARD, ref.LOAN) and (start - opened).days > 400 and r < 0.06:
                status = ref.DORMANT
            elif (start - opened).days > 60 and r > 0.975:
                status, bal = ref.CLOSED, 0.0
                close = opened + timedelta(days=int(rng.integers(30, (start - opened).days)))
            specs.append((c, p, cur, opened, close, status, int(round(bal * 100)), floor))
    bank._add_accounts(rng, specs)
    # the segment follows the deposits actually held; a few are out of date (tiers are reviewed yearly)
    tiers = tier_of(bank.deposits_cny())
    stale = rng.random(customers) < 0.03
    tiers = np.where(stale, np.clip(tiers + rng.choice([-1, 1], customers), 0, 2), tiers)
    for cust, t in zip(bank.customers, tiers, strict=True):
        cust["segment"] = ref.SEGMENTS[t]
    for _ in range(agents):
        _hire(bank, rng, start - timedelta(days=int(rng.integers(60, 8 * 365))))
    # the night desk must be staffed (cards and retail) even on a small roster
    nights = [a for a in bank.agents if a.shift == "NIGHT"]
    for a in bank.agents[: max(0, min(2, len(bank.agents) // 3) - len(nights))]:
        a.shift = "NIGHT"
    return bank


def _hire(bank: Bank, rng: np.random.Generator, hire: date) -> Agent:
    name, _, _ = person(rng)
    team = ref.TEAMS[rng.choice(len(ref.TEAMS), p=ref.TEAM_P)]
    shift = str(rng.choice(["EARLY", "DAY", "LATE", "NIGHT"], p=[0.30, 0.36, 0.26, 0.08]))
    if shift == "NIGHT" and team not in ("CARDS", "RETAIL-A"):
        team = "CARDS"
    agent = Agent(
        agent_id=f"AG{bank.next_agent}",
        name=name,
        team=team,
        site=ref.SITES[0] if rng.random() < 0.6 else ref.SITES[1],
        hire_date=hire,
        shift=shift,
        weekend_rota=int(rng.integers(0, 3)),
    )
    bank.next_agent += 1
    bank.agents.append(agent)
    return agent


def evolve(bank: Bank, rng: np.random.Generator, day: date, *, roster_may_change: bool) -> dict:
    """Master-data changes of a business day; returns counts of what changed."""
    n = len(bank.customers)
    scale = max(1.0, n / 1000)
    weekday = day.weekday() < 5
    changes = {"new_customers": 0, "upgrades": 0, "moves": 0, "education": 0, "kyc": 0, "closures": 0}

    # segment upgrades: customers whose deposits now pass the next tier
    tier_now = tier_of(bank.deposits_cny())
    seg = np.array([ref.SEGMENTS.index(c["segment"]) for c in bank.customers])
    due = np.flatnonzero(tier_now > seg)
    if len(due) == 0:
        due = np.flatnonzero(seg < 2)
    for i in rng.choice(due, size=min(len(due), max(1, rng.poisson(0.8 * scale))), replace=False):
        bank.customers[i]["segment"] = ref.SEGMENTS[min(seg[i] + 1, 2)]
        changes["upgrades"] += 1
    # (min(n, ...): a tiny bank has fewer customers than changes drawn)
    for i in rng.choice(n, size=min(n, max(1, rng.poisson(0.5 * scale))), replace=False):
        city = int(rng.choice(len(ref.CITIES), p=_CITY_P))
        bank.customers[i]["city"], bank.customers[i]["_city"] = ref.CITIES[city][0], city
        changes["moves"] += 1
    for i in rng.choice(n, size=min(n, max(1, rng.poisson(0.3 * scale))), replace=False):
        cur = bank.customers[i]["education"]
        bank.customers[i]["education"] = {"SECONDARY": "BACHELOR", "BACHELOR": "POSTGRADUATE"}.get(
            cur, "BACHELOR" if cur == "UNKNOWN" else cur
        )
        changes["education"] += 1
    for i in rng.choice(n, size=min(n, max(1, rng.poisson(0.6 * scale))), replace=False):
        c = bank.customers[i]
        c["kyc_status"] = {"PENDING": "VERIFIED", "VERIFIED": "EXPIRED", "EXPIRED": "VERIFIED"}[
            c["kyc_status"]
        ]
        changes["kyc"] += 1

    # new customers, mostly on weekdays when branches are busy; accounts start empty
    specs = []
    for _ in range(max(1, rng.poisson((1.5 if weekday else 0.6) * scale))):
        c = bank._new_customer(rng, day, 10_000.0, 0)
        bank.customers[c]["kyc_status"] = "PENDING" if rng.random() < 0.4 else "VERIFIED"
        specs.append((c, ref.CURRENT, 0, day, None, ref.ACTIVE, 0, 0))
        if rng.random() < 0.4:
            specs.append((c, ref.SAVINGS, 0, day, None, ref.ACTIVE, 0, 0))
        if rng.random() < 0.2:
            specs.append((c, ref.CREDIT_CARD, 0, day, None, ref.ACTIVE, 2_000_000, 0))
        changes["new_customers"] += 1
    # cross-sell to existing customers
    for c in rng.choice(n, size=min(n, rng.poisson(0.8 * scale)), replace=False):
        p = int(
            rng.choice([ref.SAVINGS, ref.TIME_DEPOSIT, ref.CREDIT_CARD, ref.WEALTH], p=[0.35, 0.3, 0.25, 0.1])
        )
        specs.append((int(c), p, 0, day, None, ref.ACTIVE, 3_000_000 if p == ref.CREDIT_CARD else 0, 0))
    bank._add_accounts(rng, specs)

    if roster_may_change and weekday:
        bank.roster_changed = False
        if rng.random() < 0.2:
            _hire(bank, rng, day)
            bank.roster_changed = True
        staff = bank.roster(day)
        if rng.random() < 0.08 and len(staff) > 10:
            leaver = staff[rng.integers(len(staff))]
            if leaver.shift != "NIGHT":
                leaver.leave_date = day
                bank.roster_changed = True
    return changes
