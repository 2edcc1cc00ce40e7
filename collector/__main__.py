"""``nectar-collector`` / ``python -m collector``: run the collector service until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from pathlib import Path

import zmq

from collector.protocol import CONTROL_ENDPOINT
from collector.runner import PUBLISH_BYTES
from collector.service import Collector
from collector.sources import x_token
from nom.keys import InsecureBinding, Keys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="nectar-collector", description="The Nectar Collector service.")
    parser.add_argument("--nom-root", default=os.environ.get("NOM_ROOT", "NOM_ROOT"),
                        help="the store's root folder (default: $NOM_ROOT, else ./NOM_ROOT)")
    parser.add_argument("--control", default=CONTROL_ENDPOINT, help=f"control endpoint (default {CONTROL_ENDPOINT})")
    parser.add_argument("--host-name", default="127.0.0.1",
                        help="the address peers use to reach this collector, reported as hostName (default 127.0.0.1)")
    parser.add_argument("--bind-host", default="127.0.0.1",
                        help="the address the job sockets bind (default 127.0.0.1, loopback only)")
    parser.add_argument("--log-dir", default=None, help="write collector.log there (default: stderr)")
    parser.add_argument("--flush-latency", type=float, default=1.0,
                        help="seconds a partly filled array may wait before it is stored (default 1)")
    parser.add_argument("--publish-hwm", type=int, default=2000,
                        help="messages queued per subscriber at most before newer ones are dropped (seen as a seq "
                             "gap, healed from the store)")
    parser.add_argument("--publish-bytes", type=int, default=PUBLISH_BYTES,
                        help=f"bytes queued per subscriber at most (default {PUBLISH_BYTES // 2**20} MiB): the queue "
                             "holds this many bytes of a job's files, sized from the files it stores")
    parser.add_argument("--keys", default=None, help="CurveZMQ key folder from 'nectar keys init': every socket "
                        "then checks its peers' keys (required to bind beyond loopback)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow binding beyond loopback without keys (anyone who can reach the ports can use them)")
    parser.add_argument("--pid-file", default=None, help="write the process id there")
    parser.add_argument("--writer", choices=("auto", "process", "thread"), default="auto",
                        help="commit files in threads of this process or in a process of their own; auto "
                             "(the default): threads where the store's C module is built, else a process")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the service; exit 0 after a clean shutdown."""
    args = parse_args(argv)
    # Making 100k objects a second, most of them garbage a moment later, the default collector of cycles
    # (a young pass every 700 allocations) took a fifth of the loop: 117k objects/s with it against 140-152k
    # with this threshold (measured side by side). Cycles are still collected, a little later.
    gc.set_threshold(50_000, 20, 20)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if args.log_dir:
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(Path(args.log_dir) / "collector.log")]
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    try:
        keys = Keys.load(args.keys) if args.keys else None
    except (OSError, ValueError) as exc:
        print(f"nectar-collector: --keys: {exc}", file=sys.stderr)
        return 2
    collector = Collector(args.nom_root, control=args.control, host_name=args.host_name, bind_host=args.bind_host,
                          x_token=x_token(), flush_latency=args.flush_latency, publish_hwm=args.publish_hwm,
                          publish_bytes=args.publish_bytes,
                          keys=keys, insecure=args.insecure, writer=args.writer)
    if collector.writer_kind == "thread":
        # The writer's threads take the GIL a few times a group (and, without the C module, after every system
        # call); behind the loop that makes tweets each take waited up to the 5 ms default switch interval
        # while the disk idled: 315k objects/s at 0.5 ms against 289k at 5 ms (measured side by side).
        sys.setswitchinterval(0.0005)
    try:
        collector.start()
    except InsecureBinding as exc:
        print(f"nectar-collector: refusing to start: {exc}", file=sys.stderr)
        collector.writer.close()
        return 2
    except zmq.ZMQError as exc:
        print(f"nectar-collector: cannot bind {args.control}: {exc} (is another collector running?)", file=sys.stderr)
        collector.writer.close()
        return 2
    if args.pid_file:
        Path(args.pid_file).write_text(f"{os.getpid()}\n")

    def stop(signum: int, frame: object) -> None:
        collector.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"nectar-collector: control {collector.control_endpoint}, store {collector.store.root}", flush=True)
    collector.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
