"""Lifecycle journeys and surveys derived from the final touchpoint and order rows.

Deriving from the rows keeps every stage change consistent with the behaviour a dashboard sees:

- ``NULL → awareness`` at ``first_seen_at``;
- ``engagement`` at the first engaging touch (click, visit, email click, signup, ...);
- ``evaluation`` at the first signup or trial (only if before the first order);
- ``purchase`` / ``retention`` / ``loyalty`` at the 1st / 2nd / 3rd order (a later order
  restores the stage its rank implies after a backward move);
- backward moves, only while the customer is active (not dormant):
  ``evaluation → engagement`` 30 days after an evaluation that did not buy (most such
  customers), and a missed renewal — no next order within 45 days of an order — for some
  customers: ``purchase → evaluation`` (failed first renewal / downgrade to a free plan),
  ``retention → engagement`` and ``loyalty → retention``;
- ``→ dormant`` after 60 days without any *activity* (from any stage) and reactivation
  ``dormant → engagement`` (or ``→ purchase`` when the returning touch is a purchase).
  Activity is anything the customer did: every event except ad/email impressions (sends) and
  email opens (opens are unreliable under mail privacy proxies).
"""

from __future__ import annotations

import numpy as np

from data.demo.world import CH, DAY_US, DORMANT_AFTER_DAYS, EV, EventRows, OrderRows

STAGES: tuple[str, ...] = (
    "awareness", "engagement", "evaluation", "purchase", "retention", "loyalty", "dormant",
)  # fmt: skip
S = {s: i for i, s in enumerate(STAGES)}
ENGAGING = np.array([EV[e] for e in ("click", "visit", "email_click", "signup", "trial",
                                     "purchase", "referral", "review")])  # fmt: skip
PASSIVE = np.array([EV["impression"], EV["email_open"]])
BACKWARD_AFTER_DAYS = 30
NPS_BASE = 8.3  # mean NPS score (0–10) of a one-order buyer without support contacts
CSAT_SUPPORT_BASE = 4.0  # mean CSAT (1–5) after a first support contact
CSAT_PURCHASE_BASE = 4.5  # mean CSAT after a purchase
RENEWAL_DUE_DAYS = 45
# P(backward move | renewal missed while active) by the stage reached with the order.
MISSED_RENEWAL_BACK = {"purchase": ("evaluation", 0.45), "retention": ("engagement", 0.35),
                       "loyalty": ("retention", 0.30)}  # fmt: skip


def _first_per_group(group: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal, sorted ``group`` values."""
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, group[1:] != group[:-1]])


def _active_at(
    cust: np.ndarray, t: np.ndarray, q_cust: np.ndarray, q_t: np.ndarray, gap: int
) -> np.ndarray:
    """Per query: the customer's latest activity at or before ``q_t`` is less than ``gap`` ago
    (``cust``/``t`` sorted by customer, then time)."""
    if q_cust.size == 0:
        return np.zeros(0, dtype=bool)
    c = np.concatenate([cust, q_cust])
    tt = np.concatenate([t, q_t])
    is_q = np.r_[np.zeros(cust.size, bool), np.ones(q_cust.size, bool)]
    order = np.lexsort((is_q, tt, c))  # activity before a query at the same instant
    c, tt, is_q = c[order], tt[order], is_q[order]
    pos = np.maximum.accumulate(np.where(is_q, -1, np.arange(c.size)))
    prev_c = np.where(pos >= 0, c[np.maximum(pos, 0)], -1)
    prev_t = tt[np.maximum(pos, 0)]
    ok_sorted = (prev_c == c) & (tt - prev_t < gap)
    out = np.empty(q_cust.size, dtype=bool)
    out[order[is_q] - cust.size] = ok_sorted[is_q]
    return out


def lifecycle(
    rng: np.random.Generator,
    first_seen: np.ndarray,
    touches: EventRows,
    orders: OrderRows,
    end_us: int,
) -> dict[str, np.ndarray]:
    """Stage changes per customer. ``touches``/``orders`` must be sorted by (cust, t)."""
    n = first_seen.size
    cust, t, ev = touches.cust, touches.t, touches.event
    rows_c: list[np.ndarray] = [np.arange(n)]
    rows_t: list[np.ndarray] = [first_seen]
    rows_s: list[np.ndarray] = [np.full(n, S["awareness"])]

    def add(c: np.ndarray, times: np.ndarray, stage: int | np.ndarray) -> None:
        rows_c.append(c)
        rows_t.append(times)
        rows_s.append(np.broadcast_to(stage, c.shape).astype(np.int64))

    # Engagement: first engaging touch after the first touch.
    m = np.flatnonzero(np.isin(ev, ENGAGING) & (t > first_seen[cust]))
    first = m[_first_per_group(cust[m])]
    add(cust[first], t[first], S["engagement"])

    # Orders: ranks 0/1/2+ → purchase / retention / loyalty (repeats are dropped below).
    o_first = _first_per_group(orders.cust)
    rank = np.arange(orders.cust.size) - np.repeat(
        o_first, np.diff(np.r_[o_first, orders.cust.size])
    )
    first_order = np.full(n, np.iinfo(np.int64).max)
    first_order[orders.cust[o_first]] = orders.t[o_first]
    order_stage = np.array([S["purchase"], S["retention"], S["loyalty"]])[np.minimum(rank, 2)]
    add(orders.cust, orders.t, order_stage)

    # Evaluation: first signup/trial before the first order.
    m = np.flatnonzero(np.isin(ev, [EV["signup"], EV["trial"]]))
    first = m[_first_per_group(cust[m])]
    first = first[t[first] < first_order[cust[first]]]
    e_cust, e_t = cust[first], t[first]
    add(e_cust, e_t, S["evaluation"])

    # Activity (what dormancy looks at): every event except passive ones.
    act = np.flatnonzero(~np.isin(ev, PASSIVE))
    cust, t, ev = cust[act], t[act], ev[act]
    last = np.full(n, -1, dtype=np.int64)
    g_first = _first_per_group(cust)
    g_last = np.r_[g_first[1:], cust.size] - 1
    last[cust[g_last]] = t[g_last]
    gap = DORMANT_AFTER_DAYS * DAY_US

    # Backward: evaluation → engagement when no order within 30 days but still active later.
    back_t = e_t + BACKWARD_AFTER_DAYS * DAY_US
    back = (first_order[e_cust] > back_t) & (last[e_cust] > back_t)
    back &= rng.random(e_cust.size) < 0.7
    back_c, back_at, back_to = (
        [e_cust[back]],
        [back_t[back]],
        [np.full(back.sum(), S["engagement"])],
    )
    # Missed renewals: no next order within RENEWAL_DUE_DAYS of an order.
    next_same = np.r_[orders.cust[1:] == orders.cust[:-1], False]
    next_t = np.r_[orders.t[1:], 0]
    due = orders.t + RENEWAL_DUE_DAYS * DAY_US
    missed = ~next_same | (next_t > due)
    u = rng.random(orders.cust.size)
    for stage, (to, p) in MISSED_RENEWAL_BACK.items():
        sel = np.flatnonzero(missed & (order_stage == S[stage]) & (u < p))
        back_c.append(orders.cust[sel])
        back_at.append(due[sel])
        back_to.append(np.full(sel.size, S[to]))
    back_c, back_at, back_to = (np.concatenate(x) for x in (back_c, back_at, back_to))
    ok = _active_at(cust, t, back_c, back_at, gap)
    add(back_c[ok], back_at[ok], back_to[ok])

    # Dormancy after 60 days without activity, and reactivation on the next activity.
    same = np.r_[False, cust[1:] == cust[:-1]]
    prev_t = np.r_[0, t[:-1]]
    lapse = np.flatnonzero(same & (t - prev_t > gap))
    add(cust[lapse], prev_t[lapse] + gap, S["dormant"])
    react = np.where(ev[lapse] == EV["purchase"], S["purchase"], S["engagement"])
    add(cust[lapse], t[lapse], react)
    has = last >= 0
    tail = np.flatnonzero(has & (end_us - last > gap))
    add(tail, last[tail] + gap, S["dormant"])

    c = np.concatenate(rows_c)
    tt = np.concatenate(rows_t)
    s = np.concatenate(rows_s)
    order = np.lexsort((s, tt, c))
    c, tt, s = c[order], tt[order], s[order]
    # At one timestamp keep the furthest stage (e.g. a signup that is also the first engagement).
    keep = np.r_[(c[1:] != c[:-1]) | (tt[1:] != tt[:-1]), True]
    c, tt, s = c[keep], tt[keep], s[keep]
    # Drop repeats of the current stage (e.g. a reactivation purchase that is also an order).
    new_cust = np.r_[True, c[1:] != c[:-1]]
    prev_s = np.r_[-1, s[:-1]]
    keep = new_cust | (s != prev_s)
    c, tt, s = c[keep], tt[keep], s[keep]
    new_cust = np.r_[True, c[1:] != c[:-1]]
    from_s = np.where(new_cust, -1, np.r_[-1, s[:-1]])
    inside = tt < end_us
    return {"cust": c[inside], "t": tt[inside], "from": from_s[inside], "to": s[inside]}


def surveys(
    rng: np.random.Generator,
    n: int,
    segment: np.ndarray,
    touches: EventRows,
    orders: OrderRows,
    end_us: int,
) -> dict[str, np.ndarray]:
    """NPS (0–10) and CSAT (1–5) responses that follow behaviour.

    NPS goes to buyers (and some non-buyers) after their last order: repeat and loyal customers
    score higher, customers with support contacts lower. CSAT follows a support contact (lower
    scores, more so for repeat contacts) or a purchase (higher).
    """
    n_orders = np.bincount(orders.cust, minlength=n)
    support = touches.event == EV["support_contact"]
    n_support = np.bincount(touches.cust[support], minlength=n)
    last_order = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_order, orders.cust, orders.t)

    # NPS.
    signed = np.zeros(n, dtype=bool)
    signed[touches.cust[touches.event == EV["signup"]]] = True
    buyer = n_orders > 0
    respond = rng.random(n) < np.where(buyer, 0.35, np.where(signed, 0.08, 0.0))
    nps_c = np.flatnonzero(respond)
    anchor = np.where(buyer[nps_c], last_order[nps_c], -1)
    sig_t = np.full(n, -1, dtype=np.int64)
    sig = np.flatnonzero(touches.event == EV["signup"])
    np.maximum.at(sig_t, touches.cust[sig], touches.t[sig])
    anchor = np.where(anchor >= 0, anchor, sig_t[nps_c])
    nps_t = anchor + (rng.exponential(7.0, nps_c.size) * DAY_US).astype(np.int64) + 3_600_000_000
    mu = (
        NPS_BASE
        + 0.5 * (n_orders[nps_c] >= 2)
        + 0.6 * (n_orders[nps_c] >= 3)
        - 1.6 * (n_support[nps_c] > 0)
        - 1.5 * ~buyer[nps_c]
        + 0.2 * (segment[nps_c] == 2)
    )
    nps = np.clip(np.round(rng.normal(mu, 1.6)), 0, 10).astype(np.int64)

    # CSAT after support contacts and after purchases.
    s_idx = np.flatnonzero(support)
    s_idx = s_idx[rng.random(s_idx.size) < 0.3]
    p_idx = np.flatnonzero(touches.event == EV["purchase"])
    p_idx = p_idx[rng.random(p_idx.size) < 0.12]
    c_idx = np.concatenate([s_idx, p_idx])
    is_support = np.r_[np.ones(s_idx.size, bool), np.zeros(p_idx.size, bool)]
    c_cust = touches.cust[c_idx]
    c_t = touches.t[c_idx] + (rng.exponential(1.0, c_idx.size) * DAY_US).astype(np.int64) + 1
    mu = np.where(is_support, CSAT_SUPPORT_BASE - 0.35 * np.minimum(n_support[c_cust] - 1, 3),
                  CSAT_PURCHASE_BASE)  # fmt: skip
    csat = np.clip(np.round(rng.normal(mu, 0.9)), 1, 5).astype(np.int64)

    cust = np.concatenate([nps_c, c_cust])
    t = np.concatenate([nps_t, c_t])
    kind = np.r_[np.zeros(nps_c.size, np.int8), np.ones(c_cust.size, np.int8)]
    score = np.concatenate([nps, csat])
    channel = np.concatenate([np.full(nps_c.size, CH["email"], np.int8),
                              touches.channel[c_idx]])  # fmt: skip
    keep = t < end_us
    order = np.argsort(t[keep], kind="stable")
    return {k: v[keep][order] for k, v in
            dict(cust=cust, t=t, kind=kind, score=score, channel=channel).items()}  # fmt: skip
