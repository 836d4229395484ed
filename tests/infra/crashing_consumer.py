"""A FastStream consumer that receives one message and then hangs before acknowledging,
so the test can SIGKILL it mid-processing (run as a subprocess by test_kafka_smoke)."""

from __future__ import annotations

import asyncio
import sys

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from tests.support.kafka import broker_security


async def main(bootstrap: str, topic: str, group: str) -> None:
    broker = KafkaBroker(bootstrap, security=broker_security(bootstrap))

    @broker.subscriber(
        topic, group_id=group, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK
    )
    async def on_message(body: str) -> None:
        print(f"GOT {body}", flush=True)
        await asyncio.Event().wait()  # "processing" forever: never acknowledged

    await broker.start()
    print("READY", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
