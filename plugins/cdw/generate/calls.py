"""Contact-centre call detail records of a business day (IVR, queue, agent, wrap-up, survey)."""

from __future__ import annotations

import math
import random
from datetime import date

import numpy as np

from . import reference as ref
from .clock import Clock
from .population import Agent, Bank

CALL_FIELDS = [
    "call_id", "direction", "customer_id", "caller_number", "service", "priority", "ivr_entry_ts",
    "ivr_exit_ts", "queue_entry_ts", "queue_exit_ts", "answer_ts", "end_ts", "outcome", "agent_id",
    "hold_seconds", "wrap_up_seconds", "reason_code", "resolved", "csat_score", "campaign_id",
]  # fmt: skip

# arrivals by hour: peaks mid-morning (10:00) and early afternoon (14:00), quiet at night
_WEEKDAY = [
    0.5,
    0.3,
    0.2,
    0.15,
    0.15,
    0.3,
    0.8,
    2.2,
    5,
    8,
    9.5,
    8.2,
    5.8,
    7.5,
    9,
    8,
    6.8,
    5.6,
    4.4,
    3.8,
    3.2,
    2.6,
    1.9,
    1.4,
]
_WEEKEND = [
    0.6,
    0.4,
    0.3,
    0.2,
    0.2,
    0.3,
    0.6,
    1.2,
    3,
    5.5,
    7,
    7,
    6,
    6,
    6.5,
    6,
    5,
    4.5,
    4,
    3.6,
    3,
    2.4,
    1.8,
    1.3,
]
_IVR_ONLY_P = {
    "RETAIL": 0.22,
    "PREMIUM": 0.05,
    "CREDIT_CARD": 0.25,
    "INTERNET_BANKING": 0.15,
    "PROSPECT": 0.10,
    "CALLBACK": 0.05,
}
_CSAT_P = {True: [0.03, 0.04, 0.10, 0.33, 0.50], False: [0.22, 0.20, 0.25, 0.20, 0.13]}
_CSAT_COMPLAINT = [0.30, 0.25, 0.22, 0.13, 0.10]
_SCORES = (1, 2, 3, 4, 5)
_LINES = ("RETAIL", "CREDIT_CARD", "INTERNET_BANKING", "CALLBACK")
_LINES_P = (0.55, 0.23, 0.17, 0.05)
_RESOLVE_P = {"COMPLAINT": 0.45, "TECH_SUPPORT": 0.65, "CARD_LOST": 0.95, "LOAN": 0.70}


def call_volume_factor(day: date) -> float:
    return (1.12, 1.08, 1.05, 1.05, 1.10, 0.78, 0.62)[day.weekday()]


def _on_shift(agent: Agent, day: date, sec: float) -> bool:
    weekday = day.weekday()
    if agent.shift == "NIGHT":  # the night desk works every night
        return sec >= ref.SHIFTS["NIGHT"][0] or sec < ref.SHIFTS["NIGHT"][1] - 86400
    if weekday >= 5 and agent.weekend_rota != weekday - 5:
        return False
    start, end = ref.SHIFTS[agent.shift]
    return start <= sec < end


def day_calls(
    bank: Bank, rng: np.random.Generator, day: date, n_target: int, roster: list[Agent], clock: Clock
):
    """Calls that entered the IVR on ``day``, in ivr_entry order, as contract records.

    Times are elapsed seconds from the start of the date (``Clock``); a call may end the next day."""
    weekend = day.weekday() >= 5
    prof = np.array(_WEEKEND if weekend else _WEEKDAY)
    prof /= prof.sum()
    n_out = 0 if weekend else int(rng.binomial(n_target, 0.06))
    n_in = max(0, n_target - n_out)
    hours_in, entries = clock.draw(rng, prof, n_in)  # hour slots of the date, elapsed seconds
    entries = list(entries)
    outbound = [False] * n_in
    entries += list(clock.from_wall(rng.integers(10 * 3600, 18 * 3600, n_out)))  # campaigns: office hours
    outbound += [True] * n_out
    order = np.argsort(np.array(entries, dtype=np.int64), kind="stable")
    # busier hours queue longer
    load = np.bincount(hours_in, minlength=24 if clock.regular else len(clock.slot_hour)).astype(float)
    load_f = 0.3 + 2.2 * (load / max(1.0, load.max(initial=0.0))) ** 1.5

    customers = bank.customers
    n_cust = len(customers)
    seg = [c["segment"] for c in customers]
    free_at = {a.agent_id: -1.0 for a in roster}
    quarter = (day.month - 1) // 3 + 1
    records = []
    pr = random.Random(int(rng.integers(2**63)))  # scalar draws: the stdlib is much faster
    staff_by_minute: dict[int, list[Agent]] = {}
    for seq, i in enumerate(order):
        t0 = int(entries[i])
        out = outbound[i]
        cust = None
        r = pr.random()
        if out:
            cust = pr.randrange(n_cust)
        elif r < 0.045:
            service = "PROSPECT"
        elif r < 0.095:
            cust = -1  # caller not identified by the IVR
        else:
            cust = pr.randrange(n_cust)
        segment = seg[cust] if cust is not None and cust >= 0 else "MASS"
        campaign = None
        if out:
            service = "PREMIUM" if segment != "MASS" else "CREDIT_CARD"
            campaign = f"CMP-{day.year}Q{quarter}-{'WEALTH' if service == 'PREMIUM' else 'CARD'}"
        elif cust is not None:
            if segment == "PRIVATE" and pr.random() < 0.85 or segment == "AFFLUENT" and pr.random() < 0.6:
                service = "PREMIUM"
            else:
                service = pr.choices(_LINES, _LINES_P)[0]
        priority = {"PRIVATE": 2, "AFFLUENT": 1}.get(segment, 0)
        if service == "PROSPECT":
            priority = 0
        elif service == "CALLBACK":
            priority = max(priority, 1)
        known = cust is not None and cust >= 0
        number = customers[cust]["phone"] if known else None
        if number is None and pr.random() < 0.9:  # mobiles, some Shanghai landlines
            prefix = (
                pr.choice(("+86138", "+86139", "+86150", "+86186", "+86177"))
                if pr.random() < 0.85
                else "+8621"
            )
            number = f"{prefix}{pr.randrange(10**8):08d}"

        # IVR, then queue for an agent; outbound calls go straight to the dialler queue
        ivr = (
            0
            if out
            else int(min(600, max(5, pr.lognormvariate(math.log(20 if service == "PREMIUM" else 45), 0.5))))
        )
        t_ivr_exit = t0 + ivr
        q_entry = q_exit = answer = agent_id = hold = wrap = reason = resolved = csat = None
        if not out and pr.random() < _IVR_ONLY_P[service]:
            outcome, t_end = "IVR_ONLY", t_ivr_exit
        else:
            q_entry = t_ivr_exit
            busy = load_f[min(len(load_f) - 1, t0 // 3600)]
            base = 4 if out else (10 if service == "PREMIUM" else 28) * busy
            ready = q_entry + pr.expovariate(1 / base)
            patience = pr.expovariate(1 / (12 if out else (900 if service == "PREMIUM" else 420)))
            teams = ref.SERVICE_TEAMS[service]
            minute = q_entry // 60
            staff = staff_by_minute.get(minute)
            if staff is None:  # shifts follow the wall clock
                wall = clock.wall_seconds(minute * 60) % 86400
                staff = staff_by_minute[minute] = [a for a in roster if _on_shift(a, day, wall)]
            team_staff = [a for a in staff if a.team in teams]
            pick, t_answer = None, None
            for group, delay in ((team_staff, 0), (staff, 60)):  # overflow to any team after a minute
                if not group:
                    continue
                best = min(group, key=lambda a: (max(free_at[a.agent_id], ready + delay), pr.random()))
                t = max(free_at[best.agent_id], ready + delay)
                if t_answer is None or t < t_answer:
                    pick, t_answer = best, t
            if pick is None or t_answer - q_entry > patience:
                outcome = "ABANDONED"
                q_exit = t_end = q_entry + int(patience)
            else:
                outcome = "ANSWERED"
                answer = q_exit = int(np.ceil(t_answer))
                agent_id = pick.agent_id
                if out:
                    reason = pr.choices(("SALES", "INQUIRY", "OTHER"), (0.6, 0.25, 0.15))[0]
                else:
                    reason = pr.choices(ref.REASONS, ref.REASON_P[service])[0]
                talk_med = {"COMPLAINT": 420, "CARD_LOST": 300, "SALES": 360, "TECH_SUPPORT": 330}.get(
                    reason, 210
                )
                talk = int(min(5400, max(20, pr.lognormvariate(math.log(talk_med), 0.6))))
                hold = int(talk * pr.uniform(0.05, 0.35)) if pr.random() < 0.3 else 0
                wrap = int(min(600, max(5, pr.lognormvariate(math.log(35), 0.5))))
                t_end = answer + talk
                free_at[agent_id] = t_end + wrap
                resolved = pr.random() < _RESOLVE_P.get(reason, 0.8)
                if pr.random() < 0.3:  # post-call survey
                    p = _CSAT_P[resolved] if reason != "COMPLAINT" else _CSAT_COMPLAINT
                    csat = pr.choices(_SCORES, p)[0]
        records.append(
            {
                "call_id": f"CL{day:%Y%m%d}{seq + 1:07d}",
                "direction": "OUTBOUND" if out else "INBOUND",
                "customer_id": customers[cust]["customer_id"] if known else None,
                "caller_number": number,
                "service": service,
                "priority": priority,
                "ivr_entry_ts": clock.ts(t0),
                "ivr_exit_ts": clock.ts(t_ivr_exit),
                "queue_entry_ts": None if q_entry is None else clock.ts(q_entry),
                "queue_exit_ts": None if q_exit is None else clock.ts(q_exit),
                "answer_ts": None if answer is None else clock.ts(answer),
                "end_ts": clock.ts(t_end),
                "outcome": outcome,
                "agent_id": agent_id,
                "hold_seconds": hold,
                "wrap_up_seconds": wrap,
                "reason_code": reason,
                "resolved": resolved,
                "csat_score": csat,
                "campaign_id": campaign,
            }
        )
    return records
