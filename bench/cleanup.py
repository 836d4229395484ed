"""A benchmark leaves nothing behind: its topics and databases are deleted when it ends.

A broker with thousands of leftover partitions and a FerretDB with hundreds of leftover
databases both burn CPU while idle (measured: ~0.2–0.3 of a core each after a day of runs),
which the next benchmark would count against whatever it measures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

log = logging.getLogger(__name__)


async def forget(
    *, bootstrap: str, mongo_url: str, topic_suffix: str, databases: Iterable[str]
) -> None:
    """Delete every topic ending in `topic_suffix` and drop `databases` (best effort)."""
    if topic_suffix:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            mine = [t for t in await admin.list_topics() if t.endswith(topic_suffix)]
            if mine:
                await admin.delete_topics(mine)
        except Exception as exc:
            log.warning("topics of %s left behind: %s", topic_suffix, exc)
        finally:
            await admin.close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_url, serverSelectionTimeoutMS=5000
    )
    try:
        for name in databases:
            await client.drop_database(name)
    except Exception as exc:
        log.warning("databases left behind: %s", exc)
    finally:
        await client.close()
