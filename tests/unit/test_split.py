"""The split of a fetch per partition: offset order kept, errors apart."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from parafka.connection.fetch import split

from .fakes import FakeMessage


class ErrorMessage(FakeMessage):
    def error(self) -> Any:
        return "boom"


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3), st.booleans()), max_size=60),
    st.booleans(),
)
def test_split_keeps_every_message_of_a_partition_in_order(
    shape: list[tuple[str, int, bool]], single_topic: bool
) -> None:
    offsets: dict[tuple[str, int], int] = {}
    fetched: list[Any] = []
    for topic, partition, is_error in shape:
        topic = "a" if single_topic else topic
        if is_error:
            fetched.append(ErrorMessage(0, partition, topic))
            continue
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        fetched.append(FakeMessage(offset, partition, topic))

    batches, errors = split(fetched, "a" if single_topic else None)

    assert errors == [m for m in fetched if isinstance(m, ErrorMessage)]
    expected: dict[tuple[str, int], list[Any]] = {}
    for message in fetched:
        if not isinstance(message, ErrorMessage):
            expected.setdefault((message.topic(), message.partition()), []).append(message)
    assert batches == expected
    for (_topic, _partition), batch in batches.items():
        assert [m.offset() for m in batch] == list(range(len(batch)))
