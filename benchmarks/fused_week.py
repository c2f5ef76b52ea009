"""Prototype gate of issue 23: the whole ``denmark-2011`` week fused per client, against the engine.

    python benchmarks/fused_week.py [--preset denmark-2011] [--replications 8] [--rounds 3]
                                    [--generator philox,splitmix] [--layout soa,split]
                                    [--seed 1]

A standalone prototype, not wired into the package: one compiled (Numba) function walks the
clients of a batch slot by slot and does every step of the engine's week for each before
moving on (docs/model.md section 3), reading the client's fields once and writing back what
changed. It starts from the state the engine's own ``Simulation`` draws (country, workforce,
initial stock, caseworker assignment) and uses the built scenario's coefficients, so each
step's arithmetic is the engine's with the real parameters. Engine (``benchmarks/run.py``'s
``engine_throughput``: whole runs, ``--replications`` in ``streetlevel run``'s batches) and
prototype (the same batch, the same weeks, year ends included) alternate for ``--rounds``
rounds, both timed in CPU seconds of the stepping alone (``time.process_time``), and the
medians and their ratio are printed. Numba's compilation is done before any timing.

**Generator.** The engine's draws come from one PCG64 stream per replication, consumed in
the order of the week's whole-array passes: a per-client loop cannot reproduce that order.
A counter-based generator keys every draw by (seed, replication, slot, week, draw index), so
a client's draws are the same however the clients are split (checked before timing: the
batch in one call against two parts). Both are timed by default. ``philox``: Philox4x32-10
(Salmon et al. 2011, Random123; the family of NumPy's ``Philox`` and cuRAND's default),
counter (slot, week, replication, block), key the seed, four 32-bit lanes per call, checked
against Random123's known answers; ten rounds of two 32x32-bit products, the conservative
choice. ``splitmix``: SplitMix64's output function (Steele, Lea & Flood 2014,
Java's ``SplittableRandom``; passes BigCrush) at the index (replication, slot, week, pair) of
one stream keyed by the seed, two 32-bit lanes per 64-bit output: two products per pair,
the cheapest sound choice (its streams for two seeds are shifts of one sequence, a known
weakness between seeds that Philox does not have). Lanes, per client and week: block 0 =
the week's uniform (float32, shared by attendance and exits as in the engine), the meeting's
timeliness, the re-compliance wait, the exit destination; block 1 = legitimate reason,
documentation, decision; block 2 = an ended offer's wait and length; blocks 3-5 = a new
client's seven attribute uniforms, two for its motivation (Box-Muller) and its first
offer's wait and length. A quiet client-week computes block 0 only.

**Compiled how.** Without Numba's reference counting (``_nrt=False``: the kernels allocate
nothing): with it, every inlined helper that took the state's named tuple increfed and
decrefed each of its arrays, 45 atomic calls per new client and per closed client-year, which
made the loop a third slower (profiled with ``perf``). ``--layout`` holds the state as the
engine's arrays (``soa``) or as records (``split``: a 32-byte record of the fields every
client-week reads, a 64-byte one of the rest; ``record``: one 96-byte record), the same
kernels seeing each field as a strided array.

**Included, per client and week, in the engine's order** (every draw and branch the engine
has for that client): 1 inflow into a slot its client left last week (category from the
municipality's inflow mix, age, sex, education, minority, problems, first meeting, a normal
motivation, first offer wait and length, the fixed absence log-odds, the cached absence
probability with the municipality's perceived risk, the exit threshold, every counter
reset); 2 an ended offer's next wait and length (geometric, by inversion with the
logarithm of the category's ``1 - p`` computed once, as ``Streams.geometric_of``); 3 a due
meeting held on time with the caseworker's ``p_timely``, late meetings, the meeting tallies;
4 the offer's activity, weeks with an offer, obligations, the absence draw; 5-6 legitimate
reason (two-valued probability), documentation, the benefit-office route (offer, route,
register, separate office), the caseworker's decision (management strictness, caseworker
strictness plus office culture, problems times individual assessment, overload, first
breach: a logistic per absence, as the engine computes it) or the office's (per
municipality, computed once a week), breaches and absences counted and tallied; 7
re-compliance, a new sanction (status, a geometric re-compliance wait, last sanction,
counters, the absence probability refreshed with the ex-post effect), weeks sanctioned; 8
exits: the cached threshold for most, the full hazards (years on benefit, post-sanction
fade, unknown exits while sanctioned, clipping) for the sanctioned and recently sanctioned
whose uniform reaches the hazard bound, the destination draw and the client-year closed
into the (replication, municipality) tallies (recipients, sanctioned, repeat, sanctions,
weeks in year and by category, weeks sanctioned, weeks with an offer, amount withheld,
profile closings, exits by destination and after a sanction). Step 10, after each year's
last week: one compiled pass closes every client-year still open (the same tallies, stock
at the end, long-term counts) and resets the yearly counters; the package's own
``municipality_year``, ``sanction_rate`` and ``pressure_step`` then compute the indicators,
ranking and pressure from those tallies, perceived risk is learnt as the engine learns it,
and a second compiled pass refreshes every client's absence probability and exit
threshold.

**Simplified or left out**: no rows are written (the harness runs the engine without a
recorder too); step 9 (job placements) is absent from ``denmark-2011`` and from the
prototype; new clients' ids are (week + 1) x slots + slot instead of a per-replication
counter (a running count across clients, which a per-client loop would need a prefix sum
for); the engine's re-compliance wait at p = 1/2 uses NumPy's search method, the
prototype inversion; the scenario has no dated values, so no coefficients are rebuilt
(neither side pays for it). The numbers differ from the engine's (another generator), not
the work.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import numba
import numpy as np

from streetlevel.model import kernels
from streetlevel.model.codes import DESTINATIONS
from streetlevel.model.engine import Simulation
from streetlevel.model.indicators import LONG_TERM_YEARS, municipality_year, sanction_rate
from streetlevel.model.processes.year_end import pressure_step
from streetlevel.model.state import EXITED, NEVER, RECEIVING, SANCTIONED
from streetlevel.model.tally import COUNTS, SANCTIONED_BIT
from streetlevel.scenario.loading import load_scenario

RUN = Path(__file__).parent / "run.py"

# Indices of the tally counts, as ``tally.COUNTS`` orders them.
C_RECIP, C_SANCTIONED, C_REPEAT = (
    COUNTS.index(n) for n in ("recipients", "sanctioned", "repeat_sanctioned")
)
C_SANCTIONS, C_ABSENCES, C_BREACHES = (
    COUNTS.index(n) for n in ("sanctions", "absences", "breaches")
)
C_WEEKS, C_WSANCT, C_WOFFER = (
    COUNTS.index(n) for n in ("weeks_in_year", "weeks_sanctioned", "weeks_offer")
)
C_WITHHELD, C_EXIT_WORK = COUNTS.index("amount_withheld"), COUNTS.index("exits_work")
C_WORK_SANCT = COUNTS.index("exits_work_sanctioned")
C_UNKNOWN_SANCT = COUNTS.index("exits_unknown_sanctioned")
C_STOCK_END, C_LONG5, C_LONG10 = (
    COUNTS.index(n) for n in ("stock_end", "long_term_5y", "long_term_10y")
)
C_TIMELY, C_LATE = COUNTS.index("meetings_timely"), COUNTS.index("meetings_late")
# The destinations' exit counts follow exits_work in DESTINATIONS' order.
assert COUNTS[C_EXIT_WORK : C_EXIT_WORK + 3] == tuple(f"exits_{d}" for d in DESTINATIONS)
N_COUNTS = len(COUNTS)
PROFILE_CODES = 2 ** (SANCTIONED_BIT + 1)
LONG5, LONG10 = LONG_TERM_YEARS

# The scalar coefficients the kernels read, packed in one float64 array (``P_*`` their index).
SCALARS = (
    "meetings_interval", "clients_age_under_30", "clients_age_50_plus", "clients_male",
    "clients_low_education", "clients_minority", "by_attributes", "attendance_intercept",
    "attendance_problems", "attendance_age_under_30", "attendance_age_50_plus",
    "attendance_male", "attendance_low_education", "attendance_motivation",
    "attendance_perceived_risk", "attendance_repeat_reduction", "legitimate_reason_documented",
    "decision_caseworker_intercept", "decision_caseworker_management_strictness",
    "decision_caseworker_caseworker_strictness", "decision_caseworker_problems",
    "decision_caseworker_overloaded", "decision_caseworker_first_breach",
    "legislation_individual_assessment", "separate_benefit_office", "legislation_periodical",
    "sanctions_recompliance", "legislation_benefit", "legislation_deduction_weeks",
    "exits_post_effect", "exits_post_effect_weeks", "exits_unknown_while_sanctioned",
    "exits_duration_decay_years", "weeks_per_year", "offer_end",
)  # fmt: skip
(P_INTERVAL, P_AGE30, P_AGE50, P_MALE, P_LOWED, P_MINORITY, P_BY_ATTR, P_A_ICPT, P_A_PROB,
 P_A_AGE30, P_A_AGE50, P_A_MALE, P_A_LOWED, P_A_MOTIV, P_A_RISK, P_A_REPEAT, P_DOCUMENTED,
 P_CW_ICPT, P_CW_MGMT, P_CW_CW, P_CW_PROB, P_CW_LOAD, P_CW_FIRST, P_ASSESS, P_SEPARATE,
 P_PERIODICAL, P_RECOMPLY, P_BENEFIT, P_DEDUCT, P_POST, P_POST_WEEKS, P_UNKNOWN, P_DECAY_YEARS,
 P_WPY, P_OFFER_END) = range(len(SCALARS))  # fmt: skip
# Derived once per run, after the scenario's scalars.
P_LOGQ_RECOMPLY, P_LOGQ_OFFER_END, P_REACH, P_LEGIT_NO, P_LEGIT_YES = range(
    len(SCALARS), len(SCALARS) + 5
)

# Philox4x32-10 (Random123): multipliers and Weyl key increments.
PHILOX_M0, PHILOX_M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
PHILOX_W0, PHILOX_W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
PHILOX_ROUNDS = 10
LOW32, SHIFT32 = np.uint64(0xFFFFFFFF), np.uint64(32)
# SplitMix64 (Steele, Lea & Flood 2014): the golden gamma and the output mixer's constants.
GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX1, MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
S30, S31, S27 = np.uint64(30), np.uint64(31), np.uint64(27)
# SplitMix64 index layout (bits): replication 20 | slot 26 | week 14 | pair 4.
PAIR_BITS, WEEK_BITS, SLOT_BITS, REP_BITS = 4, 14, 26, 20
U8, U1 = np.uint64(8), np.uint64(1)
TO_F32 = np.float32(2.0**-24)
TO_F64 = 2.0**-32
TWO_PI = 2.0 * math.pi
# Random123's known answers for Philox4x32-10: (counter, key) -> output.
PHILOX_KAT = (
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
)

State = namedtuple(
    "State",
    "status client_id category age_group male low_education minority problems motivation "
    "caseworker entry_week offer_start offer_end next_meeting meeting_late last_sanction "
    "recomply_week sanctions_total breaches_total absence_logit p_absence exit_threshold "
    "y_first_week y_sanctions y_absences y_weeks_sanctioned y_weeks_offer y_withheld",
)
Tables = namedtuple(
    "Tables",
    "par slot_muni office_route office_culture cat_edges register offer_logq absence "
    "problems_share rates total_rate decay strictness risk p_office p_timely cw_strictness "
    "overloaded",
)
Tallies = namedtuple("Tallies", "counts by_category closings")

HOT = (
    "offer_start", "offer_end", "next_meeting", "p_absence", "exit_threshold", "last_sanction",
    "y_weeks_offer", "y_weeks_sanctioned", "status",
)  # fmt: skip
"""The fields every client-week reads (largest first, so each is aligned in its record)."""
COLD = (
    "client_id", "motivation", "caseworker", "entry_week", "recomply_week", "absence_logit",
    "y_first_week", "y_withheld", "sanctions_total", "breaches_total", "y_sanctions",
    "y_absences", "category", "age_group", "male", "low_education", "minority", "problems",
    "meeting_late",
)  # fmt: skip
"""The fields only events read (a meeting, an absence, a sanction, an exit, an entry)."""
LAYOUTS = {"soa": (), "split": ((HOT, 32), (COLD, 64)), "record": ((HOT + COLD, 96),)}
"""How the prototype holds the state: the engine's arrays (``soa``), or records whose fields
the kernels see as strided arrays: a 32-byte record of the fields read every week and a
64-byte one of the rest (``split``), or one 96-byte record (``record``)."""
CACHE_LINE = 64

jit = numba.njit(nogil=True, cache=False, _nrt=False)
inline = numba.njit(nogil=True, cache=False, inline="always", _nrt=False)


@inline
def philox(c0: Any, c1: Any, c2: Any, c3: Any, k0: Any, k1: Any) -> Any:
    """Philox4x32-10 of counter (c0..c3) and key (k0, k1), 32-bit words held in uint64."""
    for _ in range(PHILOX_ROUNDS):
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        c0, c1, c2, c3 = (
            (p1 >> SHIFT32) ^ c1 ^ k0,
            p1 & LOW32,
            (p0 >> SHIFT32) ^ c3 ^ k1,
            p0 & LOW32,
        )
        k0 = (k0 + PHILOX_W0) & LOW32
        k1 = (k1 + PHILOX_W1) & LOW32
    return c0, c1, c2, c3


@inline
def philox_block(key: Any, r: Any, i: Any, t: Any, b: Any) -> Any:
    """Four 32-bit lanes of block ``b`` of client ``i``'s draws in week ``t``."""
    return philox(np.uint64(i), np.uint64(t), np.uint64(r), np.uint64(b), key[0], key[1])


@inline
def mix64(z: Any) -> Any:
    """SplitMix64's output function."""
    z = (z ^ (z >> S30)) * MIX1
    z = (z ^ (z >> S27)) * MIX2
    return z ^ (z >> S31)


@inline
def splitmix_block(key: Any, r: Any, i: Any, t: Any, b: Any) -> Any:
    """Four 32-bit lanes of block ``b``: SplitMix64's outputs at two indices of one stream."""
    index = (((np.uint64(r) << np.uint64(SLOT_BITS)) | np.uint64(i)) << np.uint64(WEEK_BITS)) | (
        np.uint64(t)
    )
    index = (index << np.uint64(PAIR_BITS)) | (np.uint64(b) << U1)
    x = mix64(key[0] + (index + U1) * GAMMA)
    y = mix64(key[0] + (index + U1 + U1) * GAMMA)
    return x & LOW32, x >> SHIFT32, y & LOW32, y >> SHIFT32


@inline
def unit(x: Any) -> float:
    """A 32-bit lane as a uniform in (0, 1), never 0 or 1 (for logarithms)."""
    return (float(x) + 0.5) * TO_F64


@inline
def geometric(u: float, logq: float) -> int:
    """A geometric wait >= 1 by inversion, ``logq = log(1 - p)`` (0: p = 0, never)."""
    if logq == 0.0:
        return NEVER
    if logq == -np.inf:
        return 1
    x = math.log(u) / logq
    return NEVER if x >= NEVER else max(1, math.ceil(x))


@inline
def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@inline
def close_client_year(s: Any, tb: Any, ty: Any, j: int, cell: int, t: int, cat: int) -> int:
    """Add client ``j``'s client-year to the tallies of ``cell``; returns its sanctions."""
    par, counts = tb.par, ty.counts
    sanctions = s.y_sanctions[j]
    weeks = t - s.y_first_week[j] + 1
    wsanct = s.y_weeks_sanctioned[j]
    counts[cell, C_RECIP] += 1.0
    counts[cell, C_SANCTIONED] += sanctions > 0
    counts[cell, C_REPEAT] += sanctions >= 2
    counts[cell, C_SANCTIONS] += sanctions
    counts[cell, C_WEEKS] += weeks
    ty.by_category[cell, cat] += weeks
    counts[cell, C_WSANCT] += wsanct
    counts[cell, C_WOFFER] += s.y_weeks_offer[j]
    counts[cell, C_WITHHELD] += wsanct * par[P_BENEFIT] + s.y_withheld[j]
    code = (
        int(s.age_group[j] == 0)
        | (int(s.male[j]) << 1)
        | (int(s.low_education[j]) << 2)
        | (int(sanctions > 0) << SANCTIONED_BIT)
    )
    ty.closings[cell, cat, code] += 1.0
    return sanctions


def make_week(block: Any) -> Any:
    """The fused week compiled with the generator ``block`` (philox_block or splitmix_block)."""

    @inline
    def new_client(
        s: Any, tb: Any, key: Any, r: int, i: int, j: int, m: int, cell: int, t: int
    ) -> None:
        """Step 1 for slot ``i``: a new client with its attributes and cached values."""
        par = tb.par
        a0, a1, a2, a3 = block(key, r, i, t, 3)
        a4, a5, a6, n0 = block(key, r, i, t, 4)
        n1, w, ln, _ = block(key, r, i, t, 5)
        edges = tb.cat_edges[m]
        u = unit(a0)
        cat = 0
        for k in range(edges.size - 1):
            cat += u >= edges[k]
        u = unit(a1)
        age = 0 if u < par[P_AGE30] else (1 if u < 1.0 - par[P_AGE50] else 2)
        male = unit(a2) < par[P_MALE]
        low_ed = unit(a3) < par[P_LOWED]
        s.minority[j] = unit(a4) < par[P_MINORITY]
        if par[P_BY_ATTR] >= 0 and age == 0 and low_ed:
            cat = int(par[P_BY_ATTR])
        problems = unit(a5) < tb.problems_share[cat]
        s.next_meeting[j] = t + int(unit(a6) * par[P_INTERVAL])
        motivation = np.float32(math.sqrt(-2.0 * math.log(unit(n0))) * math.cos(TWO_PI * unit(n1)))
        s.category[j], s.age_group[j], s.male[j] = cat, age, male
        s.low_education[j], s.problems[j], s.motivation[j] = low_ed, problems, motivation
        s.client_id[j] = (t + 1) * tb.slot_muni.size + i
        s.entry_week[j], s.status[j], s.y_first_week[j] = t, RECEIVING, t
        s.y_sanctions[j] = 0
        s.y_absences[j] = 0
        s.y_weeks_sanctioned[j] = 0
        s.y_weeks_offer[j] = 0
        s.y_withheld[j] = 0.0
        s.sanctions_total[j] = 0
        s.breaches_total[j] = 0
        s.last_sanction[j], s.recomply_week[j], s.meeting_late[j] = -NEVER, NEVER, False
        logq = tb.offer_logq[cat]
        wait = geometric(unit(w), logq if logq != 0.0 else -np.inf) - 1
        length = geometric(unit(ln), par[P_LOGQ_OFFER_END])
        start = t + wait if logq != 0.0 else NEVER
        s.offer_start[j], s.offer_end[j] = start, (start + length if logq != 0.0 else NEVER)
        logit = np.float32(
            par[P_A_ICPT]
            + tb.absence[cat]
            + par[P_A_PROB] * problems
            + par[P_A_AGE30] * (age == 0)
            + par[P_A_AGE50] * (age == 2)
            + par[P_A_MALE] * male
            + par[P_A_LOWED] * low_ed
            + par[P_A_MOTIV] * motivation
        )
        s.absence_logit[j] = logit
        s.p_absence[j] = logistic(logit + par[P_A_RISK] * tb.risk[cell])
        s.exit_threshold[j] = 1.0 - tb.total_rate[cat]

    @jit
    def week(s: Any, tb: Any, ty: Any, key: Any, t: int, reps: Any, lo: int, hi: int) -> None:
        """Steps 1-8 of week ``t`` for slots ``lo``..``hi`` of every replication."""
        par = tb.par
        slots = tb.slot_muni.size
        n_m = tb.office_route.size
        n_cw = tb.p_timely.size // reps.size
        wpy = int(par[P_WPY])
        last_years = int(par[P_DECAY_YEARS])
        recent_after = t - int(par[P_POST_WEEKS])
        reach = np.float32(par[P_REACH])
        for r in range(reps.size):
            rep = reps[r]
            for i in range(lo, hi):
                j = r * slots + i
                m = tb.slot_muni[i]
                cell = r * n_m + m
                status = s.status[j]
                # 1. inflow into the slot its client left last week
                if status == EXITED:
                    new_client(s, tb, key, rep, i, j, m, cell, t)
                    status = RECEIVING
                # 2. an ended offer: the next one's wait and length
                offer_end = s.offer_end[j]
                offer_start = s.offer_start[j]
                if offer_end <= t:
                    w, ln, _, _ = block(key, rep, i, t, 2)
                    wait = geometric(unit(w), tb.offer_logq[s.category[j]]) - 1
                    offer_start = t + wait
                    offer_end = offer_start + geometric(unit(ln), par[P_LOGQ_OFFER_END])
                    s.offer_start[j], s.offer_end[j] = offer_start, offer_end
                u0, u1, u2, u3 = block(key, rep, i, t, 0)
                receiving = status == RECEIVING
                # 3. a due meeting, held on time or late
                obligated = False
                if receiving & (s.next_meeting[j] <= t):
                    cw = s.caseworker[j]
                    held = unit(u1) < tb.p_timely[r * n_cw + cw]
                    was_late = s.meeting_late[j]
                    s.meeting_late[j] = not held
                    if held:
                        obligated = True
                        s.next_meeting[j] = t + int(par[P_INTERVAL])
                        ty.counts[cell, C_LATE if was_late else C_TIMELY] += 1.0
                # 4. obligations and the absence draw (the week's uniform)
                offer_active = receiving & (offer_start <= t) & (offer_end > t)
                s.y_weeks_offer[j] += offer_active
                obligated |= offer_active
                uw = np.float32(u0 >> U8) * TO_F32
                new_sanction = False
                if obligated & (uw < s.p_absence[j]):
                    # 5-6. legitimate reason, route and decision
                    v0, v1, v2, _ = block(key, rep, i, t, 1)
                    problems = s.problems[j]
                    cat = s.category[j]
                    legit = unit(v0) < (par[P_LEGIT_YES] if problems else par[P_LEGIT_NO])
                    documented = legit & (unit(v1) < par[P_DOCUMENTED])
                    to_office = (
                        offer_active
                        & tb.office_route[m]
                        & tb.register[cat]
                        & (par[P_SEPARATE] != 0.0)
                    )
                    accepted = documented if to_office else legit
                    strict = tb.strictness[cell]
                    cw = s.caseworker[j]
                    at_cw = r * n_cw + cw
                    first = s.breaches_total[j] == 0
                    p_cw = logistic(
                        par[P_CW_ICPT]
                        + par[P_CW_MGMT] * strict
                        + par[P_CW_CW] * (tb.cw_strictness[at_cw] + tb.office_culture[m])
                        + par[P_CW_PROB] * problems * (1.0 - strict) * par[P_ASSESS]
                        + par[P_CW_LOAD] * tb.overloaded[at_cw]
                        + par[P_CW_FIRST] * first
                    )
                    p = tb.p_office[cell] if to_office else p_cw
                    new_sanction = (not accepted) and unit(v2) < p
                    s.y_absences[j] += 1
                    s.breaches_total[j] += not accepted
                    ty.counts[cell, C_ABSENCES] += 1.0
                    ty.counts[cell, C_BREACHES] += not accepted
                # 7. re-compliance, a new sanction, weeks sanctioned
                sanctioned = status == SANCTIONED
                if sanctioned and s.recomply_week[j] <= t:
                    status = RECEIVING
                    sanctioned = False
                last_sanction = s.last_sanction[j]
                if new_sanction:
                    if par[P_PERIODICAL] != 0.0:
                        status = SANCTIONED
                        sanctioned = True
                        s.recomply_week[j] = t + geometric(unit(u2), par[P_LOGQ_RECOMPLY])
                    else:
                        s.y_withheld[j] += par[P_BENEFIT] * par[P_DEDUCT]
                    last_sanction = t
                    s.last_sanction[j] = t
                    s.sanctions_total[j] += 1
                    s.y_sanctions[j] += 1
                    s.p_absence[j] = logistic(
                        s.absence_logit[j] + par[P_A_RISK] * tb.risk[cell]
                    ) * (1.0 - par[P_A_REPEAT])
                s.y_weeks_sanctioned[j] += sanctioned
                # 8. exits: the cached threshold, or the full hazards where they may matter
                special = sanctioned | (last_sanction > recent_after)
                leave = False
                h0 = h1 = h2 = 0.0
                if not special:
                    leave = uw >= s.exit_threshold[j]
                elif uw >= reach:
                    h0, h1, h2 = hazards(s, tb, j, t, wpy, last_years)
                    fade = min(max(1.0 - (t - last_sanction) / par[P_POST_WEEKS], 0.0), 1.0)
                    h0 = min(max(h0 * (1.0 + par[P_POST] * fade), 0.0), 1.0)
                    h2 = min(max(h2 * (par[P_UNKNOWN] if sanctioned else 1.0), 0.0), 1.0)
                    leave = uw >= 1.0 - min(h0 + h1 + h2, 1.0)
                if leave:
                    cat = s.category[j]
                    if not special:
                        h0, h1, h2 = hazards(s, tb, j, t, wpy, last_years)
                    work, work_other = h0, h0 + h1
                    total = work_other + h2
                    v = unit(u3) * total
                    dest = min(int(v >= work) + int(v >= work_other) + int(v >= total), 2)
                    sanctions = close_client_year(s, tb, ty, j, cell, t, cat)
                    ty.counts[cell, C_EXIT_WORK + dest] += 1.0
                    if sanctions > 0 and dest != 1:
                        ty.counts[cell, C_WORK_SANCT if dest == 0 else C_UNKNOWN_SANCT] += 1.0
                    status = EXITED
                s.status[j] = status

    return week


@inline
def hazards(s: Any, tb: Any, j: int, t: int, wpy: int, last_years: int) -> Any:
    """Client ``j``'s rates by destination for its years on benefit at the last refresh."""
    entry = s.entry_week[j]
    counted = max(entry, max(t // wpy * wpy - 1, 0))
    years = min((counted - entry) // wpy, last_years)
    at = s.category[j] * (last_years + 1) + years
    rates = tb.rates
    return (
        min(max(rates[0, at], 0.0), 1.0),
        min(max(rates[1, at], 0.0), 1.0),
        min(max(rates[2, at], 0.0), 1.0),
    )


@jit
def close_year(s: Any, tb: Any, ty: Any, t: int, reps: int) -> None:
    """Step 10's pass over the clients: close open client-years, stock, long-term counts,
    and reset the yearly counters."""
    slots = tb.slot_muni.size
    n_m = tb.office_route.size
    wpy = int(tb.par[P_WPY])
    for r in range(reps):
        for i in range(slots):
            j = r * slots + i
            if s.status[j] != EXITED:
                cell = r * n_m + tb.slot_muni[i]
                close_client_year(s, tb, ty, j, cell, t, s.category[j])
                weeks_on = t - s.entry_week[j] + 1
                ty.counts[cell, C_STOCK_END] += 1.0
                ty.counts[cell, C_LONG5] += weeks_on > LONG5 * wpy
                ty.counts[cell, C_LONG10] += weeks_on > LONG10 * wpy
            s.y_sanctions[j] = 0
            s.y_absences[j] = 0
            s.y_weeks_sanctioned[j] = 0
            s.y_weeks_offer[j] = 0
            s.y_withheld[j] = 0.0
            s.y_first_week[j] = t + 1


@jit
def open_year(s: Any, tb: Any, t: int, reps: int) -> None:
    """The rest of step 10: every client's absence probability and exit threshold."""
    par = tb.par
    slots = tb.slot_muni.size
    n_m = tb.office_route.size
    wpy = int(par[P_WPY])
    last_years = int(par[P_DECAY_YEARS])
    for r in range(reps):
        for i in range(slots):
            j = r * slots + i
            p = logistic(s.absence_logit[j] + par[P_A_RISK] * tb.risk[r * n_m + tb.slot_muni[i]])
            if s.sanctions_total[j] > 0:
                p *= 1.0 - par[P_A_REPEAT]
            s.p_absence[j] = p
            years = min((t - s.entry_week[j]) // wpy, last_years)
            s.exit_threshold[j] = 1.0 - tb.total_rate[s.category[j]] * tb.decay[years]


def mix64_py(z: int) -> int:
    """SplitMix64's output function on Python integers (for the key)."""
    mask = (1 << 64) - 1
    z = ((z ^ (z >> 30)) * int(MIX1)) & mask
    z = ((z ^ (z >> 27)) * int(MIX2)) & mask
    return z ^ (z >> 31)


def generator_key(generator: str, seed: int) -> np.ndarray:
    """The key of a run: the seed's two 32-bit words (Philox), or its SplitMix64 hash."""
    if generator == "philox":
        return np.array([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF], dtype=np.uint64)
    return np.array([mix64_py(seed), 0], dtype=np.uint64)


def log_q(p: float) -> float:
    """log(1 - p) for a geometric wait: 0 for p = 0 (never), -inf for p >= 1 (one week)."""
    if p <= 0.0:
        return 0.0
    return -math.inf if p >= 1.0 else math.log1p(-p)


def records(sim: Simulation, layout: str) -> dict[str, np.ndarray]:
    """The engine's state copied into cache-line-aligned records, as strided field views."""
    views = {}
    for names, size in LAYOUTS[layout]:
        sources = [getattr(sim.state, f).reshape(-1) for f in names]
        offsets = np.cumsum([0] + [a.itemsize for a in sources])
        dtype = np.dtype(
            {
                "names": list(names),
                "formats": [a.dtype for a in sources],
                "offsets": offsets[:-1].tolist(),
                "itemsize": size,
            }
        )
        n = sources[0].size
        buffer = np.zeros(n * size + CACHE_LINE, dtype=np.uint8)
        start = -buffer.ctypes.data % CACHE_LINE
        table = buffer[start : start + n * size].view(dtype)
        for name, source in zip(names, sources, strict=True):
            table[name] = source
            views[name] = table[name]
    return views


def build(
    sim: Simulation, copy: bool = False, layout: str = "soa"
) -> tuple[Any, Any, Any, np.ndarray]:
    """The prototype's inputs from an engine ``Simulation``: its state (flat views, copies,
    or records: ``layout``), its world and coefficients as tables, and empty tallies."""
    coef, world = sim.coef, sim.world
    reps, n_m = world.strictness.shape
    if layout == "soa":
        flat = [getattr(sim.state, f).reshape(-1) for f in State._fields]
        state = State(*(a.copy() if copy else a for a in flat))
    else:
        views = records(sim, layout)
        state = State(*(views[f] for f in State._fields))
    legit = [
        1.0
        / (
            1.0
            + math.exp(-(coef.legitimate_reason_intercept + coef.legitimate_reason_problems * x))
        )
        for x in (0.0, 1.0)
    ]
    derived = [
        log_q(coef.sanctions_recompliance),
        log_q(coef.offer_end),
        float(np.float32(1.0 - coef.exit_hazard_bound)),
        *legit,
    ]
    par = np.array([float(getattr(coef, name)) for name in SCALARS] + derived)
    edges = world.category_inflow
    if edges is None:
        edges = np.tile(np.cumsum(coef.inflow_share), (n_m, 1))
    decay_years = coef.exits_duration_decay_years
    tables = Tables(
        par=par,
        slot_muni=world.slot_municipality.astype(np.int64),
        office_route=world.benefit_office_route.astype(np.bool_),
        office_culture=np.asarray(world.office_culture, dtype=np.float64),
        cat_edges=np.ascontiguousarray(edges, dtype=np.float64),
        register=coef.attendance_register.astype(np.bool_),
        offer_logq=np.array([log_q(p) for p in coef.offer_start]),
        absence=coef.absence.astype(np.float64),
        problems_share=coef.problems_share.astype(np.float64),
        rates=np.ascontiguousarray(coef.exit_rates_by_years),
        total_rate=coef.exit_rates.sum(axis=1),
        decay=(1.0 - coef.exits_duration_decay) ** np.arange(decay_years + 1.0),
        strictness=world.strictness.reshape(-1),  # views: the year end moves them in place
        risk=world.perceived_risk.reshape(-1),
        p_office=np.empty(reps * n_m),
        p_timely=world.p_timely.reshape(-1),
        cw_strictness=world.caseworker_strictness.reshape(-1),
        overloaded=world.overloaded.reshape(-1),
    )
    k = len(coef.stock_share)
    tallies = Tallies(
        np.zeros((reps * n_m, N_COUNTS)),
        np.zeros((reps * n_m, k)),
        np.zeros((reps * n_m, k, PROFILE_CODES)),
    )
    return state, tables, tallies, world.replication.astype(np.int64)


def office_probability(sim: Simulation, tb: Any) -> None:
    """The benefit office's chance of a sanction per (replication, municipality), once a week
    as the engine computes it."""
    c = sim.coef
    x = c.decision_benefit_office_intercept + (
        c.decision_benefit_office_management_strictness * tb.strictness
    )
    np.divide(1.0, 1.0 + np.exp(-x), out=tb.p_office)


def year_end(sim: Simulation, ty: Any, t: int) -> dict[str, Any]:
    """Step 10's work per municipality, by the package's own functions, from the tallies."""
    world, coef = sim.world, sim.coef
    tally, wpy = world.tally, coef.weeks_per_year
    shape = tally.shape
    for k, name in enumerate(COUNTS):
        tally.counts[name] = np.ascontiguousarray(ty.counts[:, k]).reshape(shape)
    tally.weeks_by_category = ty.by_category.reshape(*shape, -1).copy()
    tally.closings = ty.closings.reshape(*shape, *ty.closings.shape[1:]).copy()
    table = municipality_year(world, sim.first_year + t // wpy, wpy)
    c = tally.counts
    rate = np.nan_to_num(sanction_rate(c["sanctioned"], c["weeks_in_year"], wpy))
    if t // wpy >= coef.burn_in_years or coef.pressure_during_burn_in:
        np.clip(world.strictness + pressure_step(rate, world, coef), 0.0, 1.0, out=world.strictness)
    observed = c["absences"] > 0
    world.perceived_risk[observed] = (c["sanctions"][observed] / c["absences"][observed]).astype(
        np.float32
    )
    for array in ty:
        array[:] = 0.0
    return table


def fused_run(
    sim: Simulation, week: Any, key: np.ndarray, layout: str
) -> tuple[float, int, list[Any]]:
    """CPU seconds, client-weeks and yearly tables of the prototype over ``sim``'s whole run."""
    s, tb, ty, reps = build(sim, layout=layout)
    slots, wpy = sim.country.n_slots, sim.weeks_per_year
    tables = []
    started = time.process_time()
    for t in range(sim.total_weeks):
        office_probability(sim, tb)
        week(s, tb, ty, key, t, reps, 0, slots)
        if t % wpy == wpy - 1:
            close_year(s, tb, ty, t, len(reps))
            tables.append(year_end(sim, ty, t))
            open_year(s, tb, t, len(reps))
    cpu = time.process_time() - started
    return cpu, sim.total_weeks * slots * len(reps), tables


def prototype_throughput(
    preset: str, replications: int, seed: int, week: Any, key: np.ndarray, layout: str
) -> tuple[float, int, list[Any]]:
    """The prototype over the batches ``engine_throughput`` runs (their setup untimed)."""
    from streetlevel.output.run import default_batch_size, plan_batches

    scenario = load_scenario(preset)
    slots = Simulation(scenario, seed, [0]).country.n_slots
    cpu, client_weeks, tables = 0.0, 0, []
    for batch in plan_batches(replications, default_batch_size(slots)):
        c, cw, tables = fused_run(Simulation(scenario, seed, batch.replications), week, key, layout)
        cpu, client_weeks = cpu + c, client_weeks + cw
    return cpu, client_weeks, tables


def split_check(
    preset: str, seed: int, week: Any, key: np.ndarray, layout: str, weeks: int = 8
) -> bool:
    """Whether the batch in one call and in two halves give the same state and tallies
    (also compiles every kernel before any timing)."""
    sim = Simulation(load_scenario(preset), seed, [0, 1])
    whole, halves = build(sim, True, layout), build(sim, True, layout)
    slots = sim.country.n_slots
    office_probability(sim, whole[1])
    office_probability(sim, halves[1])
    for t in range(weeks):
        week(whole[0], whole[1], whole[2], key, t, whole[3], 0, slots)
        week(halves[0], halves[1], halves[2], key, t, halves[3], 0, slots // 3)
        week(halves[0], halves[1], halves[2], key, t, halves[3], slots // 3, slots)
    for s, tb, ty, reps in (whole, halves):
        close_year(s, tb, ty, weeks - 1, len(reps))
        open_year(s, tb, weeks - 1, len(reps))
    same = all(np.array_equal(a, b) for a, b in zip(whole[0], halves[0], strict=True))
    return same and all(np.array_equal(a, b) for a, b in zip(whole[2], halves[2], strict=True))


def check_philox() -> None:
    """Philox4x32-10 against Random123's known answers."""
    for counter, key, expected in PHILOX_KAT:
        words = [np.uint64(x) for x in (*counter, *key)]
        got = tuple(int(x) for x in philox(*words))
        assert got == expected, (got, expected)


def summary(tables: list[dict[str, Any]], burn_in: int, wpy: int) -> dict[str, float]:
    """National rates over the reporting years, per client-week unless said otherwise."""
    keep = tables[burn_in:]

    def total(name: str) -> float:
        return float(sum(np.nansum(table[name]) for table in keep))

    weeks = total("weeks_in_year")
    meetings = total("meetings_timely") + total("meetings_late")
    return {
        "absences per client-week": total("absences") / weeks,
        "sanctions per client-week": total("sanctions") / weeks,
        "sanction rate (per full-year recipient)": total("sanctioned") / (weeks / wpy),
        "exits to work per client-week": total("exits_work") / weeks,
        "exits to other per client-week": total("exits_other") / weeks,
        "exits to unknown per client-week": total("exits_unknown") / weeks,
        "weeks sanctioned share": total("weeks_sanctioned") / weeks,
        "activation degree": total("weeks_offer") / weeks,
        "meetings timely share": total("meetings_timely") / meetings,
    }


def engine_summary(preset: str, seed: int) -> dict[str, float]:
    """The same rates from one replication of the engine (untimed)."""
    sim = Simulation(load_scenario(preset), seed, [0])
    sim.run()
    return summary(sim.yearly, sim.burn_in_years, sim.weeks_per_year)


def load_run() -> Any:
    """``benchmarks/run.py``, for its ``engine_throughput`` (the harness of the peer ratio)."""
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="denmark-2011")
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generator", default="philox,splitmix", help="philox and/or splitmix")
    parser.add_argument("--layout", default="soa,split", help="soa, split and/or record")
    args = parser.parse_args()
    load_start = os.getloadavg()
    check_philox()
    blocks = {"philox": philox_block, "splitmix": splitmix_block}
    weeks = {g: make_week(blocks[g]) for g in args.generator.split(",")}
    variants = [(g, lay) for g in weeks for lay in args.layout.split(",")]
    for g, lay in variants:
        started = time.perf_counter()
        same = split_check(args.preset, args.seed, weeks[g], generator_key(g, args.seed), lay)
        print(f"{g}/{lay}: compiled and checked in {time.perf_counter() - started:.1f} s; "
              f"one call and two parts give the same state and tallies: {same}")  # fmt: skip
        assert same
    run = load_run()
    kernels.flat_true(np.zeros(kernels.MIN_SIZE, dtype=bool))  # the engine's kernels, loaded
    engine: list[float] = []
    fused: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
    tables: dict[tuple[str, str], list[Any]] = {}
    for round_ in range(1, args.rounds + 1):
        cpu, cw = run.engine_throughput(args.preset, args.replications, args.seed)
        engine.append(cw / cpu)
        print(f"round {round_}: {'engine':15} {cw / cpu / 1e6:6.1f} M client-weeks/CPU-s "
              f"({cw:,} in {cpu:.2f} s)", flush=True)  # fmt: skip
        for g, lay in variants:
            key = generator_key(g, args.seed)
            cpu, cw, tables[g, lay] = prototype_throughput(
                args.preset, args.replications, args.seed, weeks[g], key, lay
            )
            fused[g, lay].append(cw / cpu)
            print(f"round {round_}: {g + '/' + lay:15} {cw / cpu / 1e6:6.1f} M client-weeks/CPU-s "
                  f"({cw:,} in {cpu:.2f} s)", flush=True)  # fmt: skip
    load_end = os.getloadavg()
    report(args, engine, fused, tables, (load_start, load_end))


def report(
    args: argparse.Namespace,
    engine: list[float],
    fused: dict[tuple[str, str], list[float]],
    tables: dict[tuple[str, str], list[Any]],
    loads: tuple[tuple[float, float, float], ...],
) -> None:
    """The plausibility table and the result block."""
    scenario = load_scenario(args.preset)
    burn_in, wpy = scenario.time.burn_in_years.value, scenario.time.weeks_per_year.value
    reference = engine_summary(args.preset, args.seed)
    names = [f"{g}/{lay}" for g, lay in fused]
    print("\nplausibility, reporting years (engine: 1 replication; prototype: last round's batch)")
    print(f"  {'':40}{'engine':>9}" + "".join(f"{n:>15}" for n in names))
    proto = [summary(tables[v], burn_in, wpy) for v in fused]
    for name, value in reference.items():
        print(f"  {name:40}{value:9.4g}" + "".join(f"{p[name]:15.4g}" for p in proto))
    e = float(np.median(engine))
    slots = Simulation(scenario, args.seed, [0]).country.n_slots
    years = burn_in + scenario.time.reporting_years.value
    print(f"\n=== fused-week prototype gate: {args.preset}, {args.replications} replications of "
          f"{slots:,} slots, {years} years, {args.rounds} alternating rounds ===")  # fmt: skip
    start, end = loads
    print(f"machine load (1/5/15 min): start {start[0]:.2f} {start[1]:.2f} {start[2]:.2f}, "
          f"end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}; {os.cpu_count()} cores")  # fmt: skip
    print(f"{'engine':15}: median {e / 1e6:6.1f} M client-weeks/CPU-s "
          f"(rounds {', '.join(f'{x / 1e6:.1f}' for x in engine)})")  # fmt: skip
    for name, rates in zip(names, fused.values(), strict=True):
        f = float(np.median(rates))
        ratios = ", ".join(f"{a / b:.2f}" for a, b in zip(rates, engine, strict=True))
        verdict = "passes" if f / e >= 2.0 else "fails"
        print(f"{name:15}: median {f / 1e6:6.1f} M client-weeks/CPU-s "
              f"(rounds {', '.join(f'{x / 1e6:.1f}' for x in rates)}); ratio {f / e:.2f}x "
              f"(per round {ratios}): {verdict} the 2x gate")  # fmt: skip


if __name__ == "__main__":
    main()
