"""JSON log lines reach a real Redis stream, a real RabbitMQ queue and a real NATS subject.

RabbitMQ (127.0.0.1:5672, guest/guest) and NATS (127.0.0.1:4222) run on the test
machines; each test uses its own queue/subject name and removes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator

import pika
import pytest
import redis

from telemetry import (
    JsonFormatter,
    MissingExtraError,
    install_logging,
    log_stream_key,
    set_log_context,
    uninstall_logging,
)
from telemetry.ship import require

FIELDS = ("ts", "level", "logger", "msg", "run_id", "tag", "version", "actor_id", "host", "pid")
log = logging.getLogger("learner.test_telemetry")


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    before = list(root.handlers), {h: h.formatter for h in root.handlers}, root.level
    yield
    uninstall_logging()
    for h in list(root.handlers):
        if h not in before[0]:
            root.removeHandler(h)
    for h, f in before[1].items():
        h.setFormatter(f)
    root.setLevel(before[2])


def _cfg(**kw: object) -> dict[str, object]:
    return {"format": "json", "level": "INFO", **kw}


def _check_line(line: str, run_id: str, msg: str) -> dict[str, object]:
    row = json.loads(line)
    assert set(FIELDS) <= set(row), row
    assert row["run_id"] == run_id and row["tag"] == "cp-mlp" and row["actor_id"] == 3
    assert row["host"] == "hostA" and row["msg"] == msg
    return row


def test_json_lines_ship_to_the_runs_redis_stream_bounded(redis_url: str) -> None:
    run_id = f"t-{uuid.uuid4().hex[:8]}"
    install_logging(
        _cfg(ship="redis", ship_maxlen=50), run_id, tag="cp-mlp", actor_id=3, host="hostA",
        redis_url=redis_url, version=7,
    )  # fmt: skip
    log.info("hello %d", 1)
    set_log_context(version=8)
    for i in range(400):
        log.info("line %d", i)
    uninstall_logging()  # flushes
    r = redis.Redis.from_url(redis_url)
    entries = r.xrange(log_stream_key(run_id))
    assert 50 <= len(entries) < 200  # MAXLEN ~ trims in whole macro-nodes
    last = _check_line(entries[-1][1][b"line"].decode(), run_id, "line 399")
    assert last["version"] == 8 and last["level"] == "INFO"
    r.delete(log_stream_key(run_id))
    r.close()


def test_json_lines_arrive_in_a_real_rabbitmq_queue() -> None:
    run_id = f"t-{uuid.uuid4().hex[:8]}"
    queue_name = f"fsrl-test-{uuid.uuid4().hex}"
    install_logging(
        _cfg(ship="amqp", ship_topic=queue_name), run_id, tag="cp-mlp", actor_id=3, host="hostA",
        version=5,
    )  # fmt: skip
    for i in range(3):
        log.warning("amqp %d", i)
    uninstall_logging()
    conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
    try:
        ch = conn.channel()
        method, _, body = ch.basic_get(queue_name, auto_ack=True)
        assert method is not None, f"nothing arrived in {queue_name}"
        first = json.loads(body)  # the shipper says where the run's lines go
        assert first["logger"] == "telemetry.install" and queue_name in first["msg"]
        assert "guest:***@" in first["msg"]  # the password is masked
        got = []
        for _ in range(3):
            method, props, body = ch.basic_get(queue_name, auto_ack=True)
            assert method is not None, f"only {len(got)} lines arrived in {queue_name}"
            got.append(_check_line(body.decode(), run_id, f"amqp {len(got)}"))
            assert props.content_type == "application/json"
        assert all(row["version"] == 5 and row["level"] == "WARNING" for row in got)
    finally:
        conn.channel().queue_delete(queue_name)
        conn.close()


def test_json_lines_arrive_on_a_real_nats_subject() -> None:
    import nats

    run_id = f"t-{uuid.uuid4().hex[:8]}"
    subject = f"fsrl.test.{uuid.uuid4().hex}"

    async def scenario() -> list[bytes]:
        nc = await nats.connect("nats://127.0.0.1:4222")
        sub = await nc.subscribe(subject)
        await nc.flush()

        def produce() -> None:
            install_logging(
                _cfg(ship="nats", ship_topic=subject), run_id, tag="cp-mlp", actor_id=3,
                host="hostA", version=2,
            )  # fmt: skip
            for i in range(3):
                log.info("nats %d", i)
            uninstall_logging()

        await asyncio.get_running_loop().run_in_executor(None, produce)
        msgs = [await sub.next_msg(timeout=5) for _ in range(4)]
        await nc.close()
        return [m.data for m in msgs]

    first, *datas = asyncio.run(scenario())
    assert subject in json.loads(first)["msg"]
    rows = [_check_line(d.decode(), run_id, f"nats {i}") for i, d in enumerate(datas)]
    assert [r["version"] for r in rows] == [2, 2, 2]


def test_text_format_ships_nothing_and_keeps_formatters(redis_url: str) -> None:
    assert install_logging({"format": "text"}, "t-text", redis_url=redis_url) is None
    assert not any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


def test_bad_values_and_missing_clients_are_named() -> None:
    with pytest.raises(ValueError, match="logging.ship='kafka'"):
        install_logging(_cfg(ship="kafka"), "t")
    with pytest.raises(ValueError, match="logging.format='xml'"):
        install_logging({"format": "xml"}, "t")
    with pytest.raises(MissingExtraError, match=r"pip install 'pika' \(or fsrl\[ship\]\)"):
        require("fsrl_no_such_module", "pika", "ship")
    with pytest.raises(ValueError, match="unknown log context field"):
        set_log_context(colour="red")
