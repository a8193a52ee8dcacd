"""Herald on a three-node RabbitMQ cluster: HERALD_BROKER_URL names the three nodes;
under steady load the node every process is connected to stops, and starts again
later. Herald moves to another node, the quorum queues have every message there, and
every accepted notification is delivered once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.faults.harness import Load, during, faulty, tally
from tests.faults.test_faults import RATE, settled
from tests.rabbitcluster import rabbit_cluster

DOWN = 10.0


async def test_the_node_herald_uses_stops_and_comes_back(tmp_path: Path) -> None:
    with rabbit_cluster(3) as nodes:
        urls = ",".join(n.url for n in nodes)
        async with faulty(tmp_path, HERALD_BROKER_URL=urls) as stack:
            load = Load(stack, RATE)
            resumed: list[float] = []

            async def node_stops() -> None:
                await asyncio.to_thread(nodes[0].stop_app)
                stopped, sent_before = time.monotonic(), len(load.accepted)
                # Delivery resumed on another node: a notification accepted after the
                # stop has arrived.
                while not {m["X-Herald-Notification-Id"] for m in stack.smtp.received} & set(
                    load.accepted[sent_before:]
                ):
                    await asyncio.sleep(0.1)
                resumed.append(time.monotonic() - stopped)
                await asyncio.sleep(max(0.0, DOWN - (time.monotonic() - stopped)))
                await asyncio.to_thread(nodes[0].start_app)

            await during(load, 20, node_stops)
            row = await tally("RabbitMQ node stopped 10 s (3-node cluster)", stack, load)
        settled(row, stack)
        assert row.delivered == row.accepted
        assert row.duplicates == 0, row
        assert resumed and resumed[0] < 15, resumed
        print(f"delivery resumed {resumed[0]:.1f} s after the node stopped")
