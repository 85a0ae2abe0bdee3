"""How the join and sync costs grow with size: benchmarks 1 and 4 at smaller and larger sizes.

Joins run at 1/10 of the default count and at 3x, not 10x. The size was set when the engine
managed 20-50 joins per second on a shared 2-core machine, and 10,000 joins would then not fit the
ten-minute ``make bench`` budget. At the current rate of about 600 joins per second they would.
The sync runs at 1/10 (1,000 contacts, 10 rooms) and with 10x the contacts (100,000) but the
same 100 rooms x 500 members, because the simulated world and the sync of 500,000 memberships
would take minutes; contacts are the part that grows fastest on a real account.
"""

from __future__ import annotations

from bench import join_throughput, login_sync
from bench.common import Figure, emit

JOIN_SIZES = {"join_small": 100, "join_large": 3000}
QUICK_JOIN_SIZES = {"join_small": 50, "join_large": 600}


def run(quick: bool = False) -> list[Figure]:
    figures: list[Figure] = []
    for label, members in (QUICK_JOIN_SIZES if quick else JOIN_SIZES).items():
        figures.extend(f for f in join_throughput.measure(members, label=label) if "vs" in f.name)
    figures.extend(login_sync.measure(1000, 10, 500, label="sync_small"))
    if quick:
        figures.extend(login_sync.measure(20000, 20, 500, label="sync_large_contacts"))
    else:
        figures.extend(login_sync.measure(100000, 100, 500, label="sync_large_contacts"))
    return figures


if __name__ == "__main__":
    emit(run())
