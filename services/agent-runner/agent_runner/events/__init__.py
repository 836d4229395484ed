"""Kafka side of the runner, in the shape of arroyo's strategies.

    fetch/dispatch (`consumer.RequestConsumer`)
      → execution handler (`service.ExecutionHandler`: claim, execute, record, publish)
        or dead-letter strategy (`dead_letter.DeadLetter`, for requests that fail validation)
      → commit policy (`offsets.CommitPolicy`: commit below the lowest unfinished offset)

At least once on purpose: a partition is committed only up to the lowest offset whose result
is not yet published, so whatever order calls finish in, a crash or a rebalance re-delivers
everything unfinished and loses nothing.

Why plain aiokafka and not FastStream (the design's choice wherever a plain subscriber fits):
FastStream's subscriber acknowledges each message in the order it is handled (ack-first,
or ack after the handler returns), so either a slow provider call holds up its whole
partition (concurrency = partitions) or a later, faster message acknowledges past an earlier
one still in flight and a crash loses it. The runner keeps hundreds of executions in flight
per partition and commits out of order, up to the lowest unfinished offset
(`consumer.commit({tp: offset})` and a rebalance listener), which FastStream's ack policies
cannot express.
"""

from agent_runner.events.consumer import RequestConsumer
from agent_runner.events.dead_letter import DeadLetter
from agent_runner.events.offsets import CommitPolicy, OffsetTracker
from agent_runner.events.publisher import KafkaPublisher

__all__ = ["CommitPolicy", "DeadLetter", "KafkaPublisher", "OffsetTracker", "RequestConsumer"]
