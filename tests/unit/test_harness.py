"""parafka.testing.Harness: the real engine on the in-memory cluster, with a fake clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import parafka
from parafka.testing import Harness, HarnessError

MakeHarness = Callable[..., Harness]


def make_app(**settings: Any) -> parafka.App:
    return parafka.App(
        kafka={"bootstrap.servers": "127.0.0.1:1"}, group_id="g", log_events=False, **settings
    )


class Recorder(parafka.Consumer):
    """Records what it sees; a payload {"fail": n} fails its first n attempts."""

    log: ClassVar[list[tuple[Any, ...]]] = []
    attempts: ClassVar[dict[int, int]] = {}

    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            fail = message.payload.get("fail", 0)
            seen = Recorder.attempts[message.offset] = Recorder.attempts.get(message.offset, 0) + 1
            if seen <= fail:
                raise ValueError(f"failing {message.offset}")
            Recorder.log.append((self.partition, message.offset, message.payload["id"]))

    def revoked(self) -> None:
        Recorder.log.append(("revoked", self.partition))

    def shutdown(self) -> None:
        Recorder.log.append(("shutdown", self.partition))


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    Recorder.log = []
    Recorder.attempts = {}


def order(i: int, **extra: Any) -> bytes:
    return json.dumps({"id": i, **extra}).encode()


def test_each_partition_in_offset_order_and_committed_to_its_end(
    parafka_harness: MakeHarness,
) -> None:
    app = make_app(max_messages=2)
    app.topic("orders", Recorder)
    h = parafka_harness(app, partitions=3)
    for i in range(30):
        h.produce("orders", order(i), key=f"k{i % 7}")
    h.run()
    by_partition: dict[int, list[int]] = {}
    for partition, offset, _id in Recorder.log:
        by_partition.setdefault(partition, []).append(offset)
    ends = {p: len(h.cluster.topics["orders"].logs[p]) for p in range(3)}
    assert sum(ends.values()) == 30
    for partition, offsets in by_partition.items():
        assert offsets == list(range(ends[partition]))
        assert h.committed("orders", partition) == ends[partition]
    assert len(h.consumed("orders")) == 30
    assert {m.payload["id"] for m in h.consumed("orders")} == set(range(30))


def test_same_key_same_partition_like_librdkafka(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app, partitions=4)
    partitions = {h.produce("orders", order(i), key="customer-1").partition for i in range(5)}
    assert len(partitions) == 1


def test_retries_back_off_on_the_fake_clock_then_dead_letter_with_origin_headers(
    parafka_harness: MakeHarness,
) -> None:
    app = make_app(pause_timeout=1.0, pause_max_timeout=30.0)
    dlq = parafka.DeadLetterQueue(topic="orders.dlq", max_retries=2)
    app.topic("orders", Recorder, dead_letter_queue=dlq)
    h = parafka_harness(app)
    h.produce("orders", order(0))
    h.produce("orders", order(1, fail=99), key=b"bad")
    h.produce("orders", order(2))
    with pytest.raises(HarnessError, match=r"advance\(1\)"):
        h.run()
    # The batch 0-2 failed at 1 without marking 0: nothing is committed yet.
    assert [entry[1] for entry in Recorder.log] == [0]
    assert h.committed("orders", 0) in (None, 0)
    h.advance(0.5)
    assert Recorder.attempts[1] == 1  # not due yet
    h.advance(100)
    assert Recorder.attempts[1] == 3  # the first run and max_retries=2 retries
    retries = [e for e in h.events if e.name == "consumer.retry"]
    assert len(retries) == 2
    assert all(e["backoff"] >= 1.0 for e in retries)
    assert h.clock.now == 100.5
    (letter,) = h.produced("orders.dlq")
    headers = dict(letter.headers)
    assert headers["parafka-original-topic"] == b"orders"
    assert headers["parafka-original-offset"] == b"1"
    assert headers["parafka-attempts"] == b"3"
    assert letter.value == order(1, fail=99)
    assert letter.raw_key == b"bad"
    assert {entry[1] for entry in Recorder.log} == {0, 2}
    assert h.committed("orders", 0) == 3
    h.run()  # nothing waits any more


def test_a_retry_that_succeeds_needs_no_dead_letter(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app)
    h.produce("orders", order(0, fail=1))
    h.advance(1.0)
    assert Recorder.log == [(0, 0, 0)]
    assert [m.offset for m in h.consumed("orders")] == [0, 0]  # one entry per attempt
    assert h.committed("orders", 0) == 1


class ByKey(parafka.Consumer):
    seen: ClassVar[list[tuple[str, int]]] = []

    def consume(self, messages: parafka.Messages) -> None:
        ByKey.seen.extend((m.key.decode(), m.payload["n"]) for m in messages)


def test_virtual_partitions_keep_each_keys_order(parafka_harness: MakeHarness) -> None:
    ByKey.seen = []
    app = make_app(max_messages=3)
    vp = parafka.VirtualPartitions(partitioner=lambda m: m.key, max_partitions=4)
    app.topic("clicks", ByKey, virtual_partitions=vp)
    h = parafka_harness(app)
    for n in range(40):
        h.produce("clicks", json.dumps({"n": n}), key=f"user-{n % 5}", partition=0)
    h.run()
    for user in range(5):
        numbers = [n for key, n in ByKey.seen if key == f"user-{user}"]
        assert numbers == sorted(numbers)
        assert len(numbers) == 8
    lanes = {e["lane"] for e in h.events if e.name == "worker.processed"}
    assert len(lanes) > 1
    assert h.committed("clicks", 0) == 40


def test_revoke_commits_runs_revoked_and_assign_resumes_without_loss(
    parafka_harness: MakeHarness,
) -> None:
    app = make_app(max_messages=5)
    app.topic("orders", Recorder)
    h = parafka_harness(app)
    for i in range(20):
        h.produce("orders", order(i))
    h.run(max_batches=2)
    h.revoke("orders", 0)
    assert ("revoked", 0) in Recorder.log
    committed = h.committed("orders", 0)
    assert committed is not None
    assert 10 <= committed < 20
    processed_before = [entry[1] for entry in Recorder.log if entry[0] == 0]
    h.run()  # not assigned: nothing moves
    assert [entry[1] for entry in Recorder.log if entry[0] == 0] == processed_before
    h.assign("orders", 0)
    h.run()
    offsets = {entry[1] for entry in Recorder.log if entry[0] == 0}
    assert offsets == set(range(20))
    assert h.committed("orders", 0) == 20
    rebalances = [(e.name, e["partitions"]) for e in h.events if e.name.startswith("rebalance.")]
    assert [entry for entry in rebalances if entry[1]] == [
        ("rebalance.assigned", [("orders", 0)]),
        ("rebalance.revoked", [("orders", 0)]),
        ("rebalance.assigned", [("orders", 0)]),
    ]


def test_eager_revoke_takes_every_partition_cooperative_only_one(
    parafka_harness: MakeHarness,
) -> None:
    for strategy, revoked in (("range", {0, 1}), ("cooperative-sticky", {0})):
        Recorder.log = []
        app = parafka.App(
            kafka={"bootstrap.servers": "x:1", "partition.assignment.strategy": strategy},
            group_id="g",
            log_events=False,
        )
        app.topic("orders", Recorder)
        h = parafka_harness(app, partitions=2)
        h.produce("orders", order(0), partition=0)
        h.produce("orders", order(1), partition=1)
        h.run()
        h.revoke("orders", 0)
        assert {p for kind, p, *_ in Recorder.log if kind == "revoked"} == revoked, strategy


def test_lose_commits_nothing_and_the_new_owner_repeats_the_uncommitted_work(
    parafka_harness: MakeHarness,
) -> None:
    app = make_app(max_messages=2)
    app.topic("orders", Recorder)
    h = parafka_harness(app, partitions=2)
    for i in range(8):
        h.produce("orders", order(i), partition=i % 2)
    h.run(max_batches=2)  # one batch per partition: processed, not committed yet
    assert sorted(entry[1] for entry in Recorder.log) == [0, 0, 1, 1]
    assert h.committed("orders", 0) is None
    h.lose()  # the member's session expired: its whole assignment is lost
    assert sorted(entry[1] for entry in Recorder.log if entry[0] == "revoked") == [0, 1]
    assert h.committed("orders", 0) is None  # the loss committed nothing
    assert h.committed("orders", 1) is None
    refused = [e for e in h.events if e.name == "error.occurred" and e["type"] == "offsets.commit"]
    assert refused  # the commit of the finished batches was tried, and refused
    lost = [e["partitions"] for e in h.events if e.name == "rebalance.lost"]
    assert lost == [[("orders", 0), ("orders", 1)]]
    before = len(h.consumed("orders"))  # jobs queued before the loss ran, for nothing
    h.assign("orders", 0)
    h.assign("orders", 1)
    h.run()
    for partition in (0, 1):
        offsets = [m.offset for m in h.consumed("orders")[before:] if m.partition == partition]
        assert offsets == [0, 1, 2, 3]  # the new owner starts again at the committed offset
        assert h.committed("orders", partition) == 4


def test_losing_one_partition_takes_only_that_one(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app, partitions=2)
    h.produce("orders", order(0), partition=0)
    h.produce("orders", order(1), partition=1)
    h.run()
    h.lose("orders", 0)
    assert [entry for entry in Recorder.log if entry[0] == "revoked"] == [("revoked", 0)]
    h.produce("orders", order(2), partition=1)
    h.run()
    assert h.committed("orders", 1) == 2
    with pytest.raises(HarnessError, match="nothing to lose"):
        h.lose("orders", 0)
    with pytest.raises(HarnessError, match="give both or neither"):
        h.lose("orders")


def test_a_consumer_that_seeks_back_for_ever_ends_in_a_harness_error(
    parafka_harness: MakeHarness,
) -> None:
    class Forever(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            self.seek(0)

    app = make_app()
    app.topic("orders", Forever)
    h = parafka_harness(app)
    h.produce("orders", order(0))
    h.produce("orders", order(1))
    with pytest.raises(HarnessError, match="without fetching a message it had not fetched"):
        h.run()
    assert len(h.consumed("orders")) > 100  # it did go round, and was stopped
    assert h.committed("orders", 0) == 0  # never past the first message


def test_a_long_chain_of_rounds_is_not_taken_for_a_loop(parafka_harness: MakeHarness) -> None:
    class Chain(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            for message in messages:
                if message.payload["id"] < 3000:
                    self.produce("orders", order(message.payload["id"] + 1))

    app = make_app()
    app.topic("orders", Chain)
    h = parafka_harness(app)
    h.produce("orders", order(0))
    h.run()  # 3000 rounds, each fetching the message the one before wrote
    assert h.committed("orders", 0) == 3001


def test_max_buffered_bytes_pauses_and_resumes_under_the_harness(
    parafka_harness: MakeHarness,
) -> None:
    app = make_app(max_messages=2, max_buffered_bytes=64)
    app.topic("orders", Recorder)
    h = parafka_harness(app, partitions=2)
    for i in range(40):
        h.produce("orders", order(i, pad="x" * 20), partition=i % 2)
    h.run()
    assert sorted(entry[2] for entry in Recorder.log) == list(range(40))
    assert h.committed("orders", 0) == h.committed("orders", 1) == 20
    assert any(e.name == "listener.paused" for e in h.events)  # the budget held them back


def test_transactions_leave_offsets_that_are_never_given_and_commits_pass_them(
    parafka_harness: MakeHarness,
) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app)
    committed = h.produce_transaction("orders", [order(0), order(1)])
    aborted = h.produce_transaction("orders", [order(2)], abort=True)
    assert [m.offset for m in committed + aborted] == [0, 1, 3]  # 2: the commit marker
    h.run()
    assert [m.offset for m in h.consumed("orders")] == [0, 1]
    assert [m.offset for m in h.produced("orders")] == [0, 1]
    assert h.committed("orders", 0) == 5  # past the abort marker, at the log's end
    h.produce("orders", order(5))
    h.run()
    assert [m.offset for m in h.consumed("orders")] == [0, 1, 5]
    assert h.committed("orders", 0) == 6


def test_two_harnesses_of_one_app_keep_their_events_apart() -> None:
    app = make_app()
    app.topic("orders", Recorder)
    seen_by_app: list[str] = []
    app.monitor.subscribe("worker.processed", lambda event: seen_by_app.append(event.name))
    with Harness(app) as first, Harness(app) as second:
        first.produce("orders", order(0))
        first.run()
        second.produce("orders", order(1))
        second.produce("orders", order(2))
        second.run()
        assert [e["messages"] for e in first.events if e.name == "worker.processed"] == [1]
        assert [e["messages"] for e in second.events if e.name == "worker.processed"] == [2]
        assert [m.offset for m in first.consumed("orders")] == [0]
        assert [m.offset for m in second.consumed("orders")] == [0, 1]
    assert seen_by_app == ["worker.processed", "worker.processed"]  # the app's own subscribers
    assert not app.monitor.listens("rebalance.assigned")  # no harness left a subscription


def test_a_second_harness_on_the_same_cluster_goes_on_from_the_committed_offsets(
    parafka_harness: MakeHarness,
) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    first = parafka_harness(app, partitions=2)
    for i in range(4):
        first.produce("orders", order(i), partition=i % 2)
    first.run()
    first.stop()  # shutdown() hooks, final commit, the member leaves the group
    assert sorted(entry[1] for entry in Recorder.log if entry[0] == "shutdown") == [0, 1]
    second = parafka_harness(app, cluster=first.cluster)
    for i in range(4, 6):
        second.produce("orders", order(i), partition=i % 2)
    second.run()
    assert sorted(m.payload["id"] for m in second.consumed("orders")) == [4, 5]
    assert second.committed("orders", 0) == second.committed("orders", 1) == 3


class Pauser(parafka.Consumer):
    seen: ClassVar[list[int]] = []
    paused = False

    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            if message.offset == 2 and not Pauser.paused:
                Pauser.paused = True
                self.pause(message.offset, timeout=5.0)
                return
            Pauser.seen.append(message.offset)


def test_a_consumers_pause_waits_on_the_fake_clock(parafka_harness: MakeHarness) -> None:
    Pauser.seen, Pauser.paused = [], False
    app = make_app()
    app.topic("orders", Pauser)
    h = parafka_harness(app)
    for i in range(4):
        h.produce("orders", order(i))
    with pytest.raises(HarnessError, match="waits until 5 s"):
        h.run()
    assert Pauser.seen == [0, 1]
    assert h.committed("orders", 0) == 2
    h.advance(5.0)
    assert Pauser.seen == [0, 1, 2, 3]
    assert h.committed("orders", 0) == 4


class Seeker(parafka.Consumer):
    seen: ClassVar[list[int]] = []

    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            Seeker.seen.append(message.offset)
            if message.offset == 1 and Seeker.seen.count(1) == 1:
                self.seek(0)  # once: read 0 and 1 again
                return


def test_a_consumers_seek_back_repeats(parafka_harness: MakeHarness) -> None:
    Seeker.seen = []
    app = make_app()
    app.topic("orders", Seeker)
    h = parafka_harness(app)
    for i in range(3):
        h.produce("orders", order(i))
    h.run()
    assert Seeker.seen == [0, 1, 0, 1, 2]
    assert h.committed("orders", 0) == 3


class Forwarder(parafka.Consumer):
    def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            self.produce("audit", value=message.value, key=b"k", headers={"from": "orders"})


class AsyncForwarder(parafka.Consumer):
    async def consume(self, messages: parafka.Messages) -> None:
        for message in messages:
            await self.produce_async("audit", value=message.value, headers=[("from", b"async")])


@pytest.mark.parametrize("consumer", [Forwarder, AsyncForwarder])
def test_produce_from_a_consumer_sync_and_async(
    parafka_harness: MakeHarness, consumer: type[parafka.Consumer]
) -> None:
    app = make_app()
    app.topic("orders", consumer)
    h = parafka_harness(app)
    for i in range(3):
        h.produce("orders", order(i))
    h.run()
    audit = h.produced("audit", deserializer=parafka.json_deserializer)
    assert [m.payload["id"] for m in audit] == [0, 1, 2]
    assert all(dict(m.headers)["from"] in (b"orders", b"async") for m in audit)
    assert h.committed("orders", 0) == 3


def test_stop_runs_shutdown_hooks_and_commits(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app, partitions={"orders": 2})
    h.produce("orders", order(0), partition=1)
    h.run()
    h.stop()
    assert ("shutdown", 1) in Recorder.log
    assert h.committed("orders", 1) == 1
    with pytest.raises(HarnessError, match="stopped"):
        h.produce("orders", order(1))


def test_a_critical_error_ends_run_with_it(parafka_harness: MakeHarness) -> None:
    class Exits(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            raise SystemExit(3)

    app = make_app()
    app.topic("orders", Exits)
    h = parafka_harness(app)
    h.produce("orders", order(0))
    with pytest.raises(HarnessError, match="critical error SystemExit"):
        h.run()


def test_message_builders_use_the_routes_deserializers(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    app.topic("raw", Recorder, deserializer=parafka.raw_deserializer)
    h = parafka_harness(app)
    assert h.message("orders", b'{"id": 7}', key="c").payload == {"id": 7}
    assert h.message("raw", b'{"id": 7}').payload == b'{"id": 7}'
    batch = h.messages("orders", [order(1), ("k2", order(2))], first_offset=10)
    consumer = Recorder()
    consumer.topic, consumer.partition = "orders", 0
    consumer.consume(batch)
    assert Recorder.log == [(0, 10, 1), (0, 11, 2)]
    assert batch[1].key == b"k2"
    assert h.produced("orders") == []  # builders produce nothing


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.produce("orders", b"{}", partition=3), r"has 2 partition\(s\) \(0-1\)"),
        (lambda h: h.consumed("payments"), "no route of the app reads 'payments'"),
        (lambda h: h.committed("orders", 5), "no partition 5"),
        (lambda h: h.assign("orders", 0), "already assigned"),
        (lambda h: h.revoke("audit.out", 0), "no route of the app reads"),
        (lambda h: h.advance(-1), "advance"),
        (lambda h: h.consumed("orders", group="other"), "does not read 'orders'"),
        (lambda h: h.produce("orders", 3.5), "value"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    parafka_harness: MakeHarness, call: Callable[[Harness], object], message: str
) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app, partitions=2)
    h.run()
    with pytest.raises((HarnessError, parafka.ParafkaError), match=message):
        call(h)


def test_revoking_an_unassigned_partition_is_refused(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app)
    h.run()
    h.revoke("orders", 0)
    with pytest.raises(HarnessError, match="nothing to revoke"):
        h.revoke("orders", 0)


def test_unrouted_topics_are_accepted_like_auto_created_ones(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app)
    h.produce("elsewhere", b"x")
    h.run()
    assert [m.value for m in h.produced("elsewhere")] == [b"x"]
    with pytest.raises(HarnessError, match="no route of the app reads 'elsewhere'"):
        h.consumed("elsewhere")


def test_two_groups_read_the_same_topic(parafka_harness: MakeHarness) -> None:
    class Other(parafka.Consumer):
        def consume(self, messages: parafka.Messages) -> None:
            pass

    app = make_app()
    app.topic("orders", Recorder)
    app.consumer_group("audit").topic("orders", Other)
    h = parafka_harness(app)
    h.produce("orders", order(0))
    h.run()
    assert len(h.consumed("orders")) == 1
    assert len(h.consumed("orders", group="audit")) == 1
    assert h.committed("orders", 0, group="audit") == 1


def test_regex_routes_pick_up_topics_created_later(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("^orders-.*", Recorder)
    h = parafka_harness(app)
    h.produce("orders-eu", order(1))
    h.produce("orders-us", order(2))
    h.run()
    assert sorted(entry[2] for entry in Recorder.log) == [1, 2]
    assert h.committed("orders-us", 0) == 1


def test_consumer_instance_is_the_engines(parafka_harness: MakeHarness) -> None:
    app = make_app()
    app.topic("orders", Recorder)
    h = parafka_harness(app)
    with pytest.raises(HarnessError, match="no consumer instance"):
        h.consumer("orders")
    h.produce("orders", order(0))
    h.run()
    instance = h.consumer("orders", 0)
    assert isinstance(instance, Recorder)
    assert instance.partition == 0


def test_a_member_joining_takes_nothing_until_the_holder_leaves(
    parafka_harness: MakeHarness,
) -> None:
    # A known difference from a broker (docs/testing.md): a join does not rebalance the group.
    app = make_app()
    app.topic("orders", Recorder)
    first = parafka_harness(app)
    first.produce("orders", order(0))
    first.run()
    second = parafka_harness(app, cluster=first.cluster)
    second.produce("orders", order(1))
    second.run()
    assert second.consumed("orders") == []
    assert not any(e.name == "rebalance.revoked" for e in first.events)
    first.run()
    assert [m.offset for m in first.consumed("orders")] == [0, 1]
    first.stop()
    second.produce("orders", order(2))
    second.run()
    assert [m.offset for m in second.consumed("orders")] == [2]  # from the committed offset
    assert second.committed("orders", 0) == 3
