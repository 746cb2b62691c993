"""An actor rides out a Redis restart (its own module: the restart empties the server)."""

from __future__ import annotations

import threading
import time

from actors.worker import ActorWorker

TAG = "cartpole-test"


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_actor_keeps_writing_across_a_redis_restart(
    make_cfg, replay_table, redis_server, redis_url, namespace
) -> None:
    cfg = make_cfg("actors.heartbeat_interval_s=0.1", "actors.weight_poll_interval_s=0.05")
    client = replay_table(cfg)
    worker = ActorWorker.from_config(cfg, 0, redis_url, namespace, TAG)
    out: dict = {}

    def run() -> None:
        try:
            out.update(worker.run())
        except Exception as exc:  # surfaced by the assertion below
            out["error"] = repr(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert wait_for(lambda: client.size("replay") > 100, 30)
        redis_server.restart(down_s=2.0)  # data lost: the writer re-creates the table
        assert wait_for(lambda: client.size("replay") > 200, 60), out
        assert thread.is_alive(), out
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert "error" not in out, out
    assert out["transitions"] > 200
