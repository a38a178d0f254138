"""What one durable intake costs the server, in measures that a loaded machine does not distort.

Wall-clock rates on a shared 2-core machine swing with whatever else runs; these
do not: SQL statements, transactions and PostgreSQL round trips per intake
(counted with SQLAlchemy events and, with ``--round-trips``, a counting TCP
proxy in front of the server), and the server's CPU seconds per intake (its
process CPU time, the load generator being another process). ``--profile FILE``
writes a cProfile of the server's side.

    python -m bench.cost --db postgresql --channel web --seconds 5 [--round-trips] [--profile out.prof]
    python -m bench.cost --db sqlite --channel form   # CPU per form GET (hello: the baseline)

Prints one JSON object. Used to find and check the per-intake work that
``register_many``, group commit, the web form and the fax parser do.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from bench.harness import hello_world, load, serve
from bench.intake import fax_tiff, prepare, service_settings
from bench.pg import admin, pg_url
from intake import keys
from intake.app import create_app


class RoundTrips:
    """A TCP proxy in its own thread that counts round trips: client bursts after a reply.

    Pipelined messages sent together count once, as the network sees them.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.count = 0
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        state = {"replied": True}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, upward: bool) -> None:
            try:
                while chunk := await src.read(65536):
                    if upward and state["replied"]:
                        self.count += 1
                        state["replied"] = False
                    elif not upward:
                        state["replied"] = True
                    dst.write(chunk)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


@contextmanager
def profiled(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


GETS = {"form": "/", "healthz": "/healthz", "hello": "/"}
"""GET figures' pages: ``cpu_ms_per_intake`` is then CPU ms per request."""


async def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    name = None
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{root}/cost.db"
    else:
        name = f"hotline_cost_{uuid.uuid4().hex[:8]}"
        await admin(f'CREATE DATABASE "{name}"')
        url = pg_url(name)
    proxy = None
    try:
        engine = await prepare(url, root)
        await engine.dispose()
        app_url = url
        if args.round_trips and name:
            parsed = make_url(url)
            proxy = RoundTrips(parsed.host or "127.0.0.1", parsed.port or 5432)
            app_url = parsed.set(port=proxy.port).render_as_string(hide_password=False)
        settings = service_settings(args.db, app_url, root)
        if args.pipeline:
            settings = settings.model_copy(update={"intake": settings.intake.model_copy(
                update={"batch_pipeline": args.pipeline})})
        runner, port = await serve(create_app(settings))
        counts = {"statements": 0, "commits": 0, "checkouts": 0}
        sync_engine = runner.app[keys.ENGINE].sync_engine

        @event.listens_for(sync_engine, "before_cursor_execute")
        def _statement(*_: Any) -> None:
            counts["statements"] += 1

        @event.listens_for(sync_engine, "commit")
        def _commit(*_: Any) -> None:
            counts["commits"] += 1

        @event.listens_for(sync_engine.pool, "checkout")
        def _checkout(*_: Any) -> None:
            counts["checkouts"] += 1

        hello = None
        if args.channel == "web":
            target = ["web", "--url", f"http://127.0.0.1:{port}"]
        elif args.channel in GETS:
            if args.channel == "hello":  # the baseline of the GET figures, in this process too
                hello, hello_port = await serve(hello_world())
                port = hello_port
            target = ["get", "--url", f"http://127.0.0.1:{port}{GETS[args.channel]}"]
        else:
            tiff = root / "fax.tif"
            tiff.write_bytes(fax_tiff())
            target = ["fax", "--smtp", f"127.0.0.1:{runner.app[keys.BOUND_PORTS]['fax.smtp']}",
                      "--tiff", str(tiff)]
        try:
            await load(*target, "--seconds", "1", "--concurrency", str(args.concurrency))  # warm up
            counts = dict.fromkeys(counts, 0)
            trips_before = proxy.count if proxy else 0
            stats = runner.app[keys.INTAKE].committer.stats
            batches_before = stats.batches
            cpu_before = time.process_time()
            with profiled(args.profile):
                got = await load(*target, "--seconds", str(args.seconds),
                                 "--concurrency", str(args.concurrency))
            cpu = time.process_time() - cpu_before
        finally:
            if hello is not None:
                await hello.cleanup()
            await runner.cleanup()
        n = max(1, int(got["count"]))
        batches = stats.batches - batches_before
        result = {"db": args.db, "channel": args.channel, "intakes": got["count"],
                  "rate": round(got["rate"], 1), "batches": batches,
                  "items_per_batch": round(n / max(1, batches), 1),
                  "statements_per_intake": round(counts["statements"] / n, 2),
                  "statements_per_batch": round(counts["statements"] / max(1, batches), 2),
                  "commits": counts["commits"], "checkouts": counts["checkouts"],
                  "cpu_ms_per_intake": round(cpu / n * 1000, 3)}
        if proxy:
            trips = proxy.count - trips_before
            result |= {"round_trips_per_intake": round(trips / n, 2),
                       "round_trips_per_batch": round(trips / max(1, batches), 2)}
        return result
    finally:
        if name:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(await measure(args, Path(tmp))))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--channel", choices=["web", "fax", *GETS], default="web",
                        help="an intake channel, or a GET (form, healthz; hello: a bare aiohttp "
                             "hello-world, their baseline): CPU ms per request")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--round-trips", action="store_true",
                        help="count PostgreSQL round trips through a proxy (adds CPU: not with CPU figures)")
    parser.add_argument("--pipeline", type=int, default=None, help="[intake] batch_pipeline")
    parser.add_argument("--profile", default=None, help="write a cProfile of the server side here")
    asyncio.run(main(parser.parse_args()))
