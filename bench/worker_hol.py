"""Head-of-line blocking in the job worker: how long N incidents' jobs take when one incident's
handler hangs, against the same run with no hang. Uses the real Worker against SQLite; each job
waits `--io` seconds as a vendor call would. Prints the time for the other jobs and the ratio
(1.0x means the hang costs them nothing). `--legacy` also runs the old loop (claim a batch, await
the whole batch) for comparison.

Run: .venv/bin/python bench/worker_hol.py [--incidents 50] [--io 0.05] [--hang 10] [--legacy]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.storage import jobs
from bot.storage.db import Database, upgrade
from bot.worker import Worker


class LegacyWorker(Worker):
    """The loop before issue 10: claim up to 10, run them together, wait for all of them."""

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            claimed = await self._claim(10)
            if claimed:
                await asyncio.gather(*(r.task for r in claimed), return_exceptions=True)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)


async def run(legacy: bool, incidents: int, io: float, hang: float | None) -> float:
    """Seconds from queueing until every job but the hanging one is done."""
    with tempfile.TemporaryDirectory(prefix="ooda-hol-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        worker = (LegacyWorker if legacy else Worker)(db, poll_seconds=1.0)
        others_done = asyncio.Event()
        done = 0

        async def vendor_call(payload: dict) -> None:
            nonlocal done
            await asyncio.sleep(hang if payload.get("hang") else io)
            if not payload.get("hang"):
                done += 1
                if done == incidents:
                    others_done.set()

        worker.register("step", vendor_call)
        worker.start()
        start = time.perf_counter()
        async with db.transaction() as session:
            if hang is not None:  # the first incident's job, queued first, hangs
                jobs.add_job(session, "step", {"hang": True}, ordering_key="incident:0")
            for n in range(incidents):
                jobs.add_job(session, "step", {"n": n}, ordering_key=f"incident:{n + 1}")
        worker.wake()
        await others_done.wait()
        elapsed = time.perf_counter() - start
        await worker.stop(grace=0)
        await db.dispose()
        return elapsed


async def main(incidents: int, io: float, hang: float, legacy: bool) -> None:
    modes = [("worker", False)] + ([("legacy batch loop", True)] if legacy else [])
    for name, is_legacy in modes:
        base = await run(is_legacy, incidents, io, None)
        hung = await run(is_legacy, incidents, io, hang)
        print(
            f"{name}: {incidents} incidents' jobs ({io * 1000:.0f} ms each) took "
            f"{base:.3f} s with no hang, {hung:.3f} s beside a {hang:.0f} s hang "
            f"-> {hung / base:.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--io", type=float, default=0.05, help="seconds each job waits")
    parser.add_argument("--hang", type=float, default=10.0, help="seconds the hung job waits")
    parser.add_argument("--legacy", action="store_true", help="also run the old batch loop")
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.io, args.hang, args.legacy))
