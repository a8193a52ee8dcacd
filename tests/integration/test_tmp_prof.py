import cProfile, pstats, time, uuid
from pathlib import Path
from tests.integration.pipeline import stack_on

async def test_prof(tmp_path: Path) -> None:
    async with stack_on("servers", tmp_path, rate_limit_per_recipient="1000000/minute", rate_limit_per_key="1000000/minute") as s:
        u = await s.user()
        def items():
            return [s.notification(u["id"]) for _ in range(1000)]
        await s.client.post("/api/v1/notifications/batch", headers=s.auth, json={"notifications": items()})
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        for _ in range(3):
            r = await s.client.post("/api/v1/notifications/batch", headers=s.auth, json={"notifications": items()})
        prof.disable()
        print("elapsed", time.perf_counter() - t, r.status_code)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
