"""``nectar-dispatch`` / ``python -m dispatch``: run the Dispatch service until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import zmq

from dispatch.protocol import CONTROL_ENDPOINT
from dispatch.service import Dispatcher
from nom.keys import InsecureBinding, Keys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="nectar-dispatch", description="The Nectar Dispatch service.")
    parser.add_argument("--nom-root", default=os.environ.get("NOM_ROOT", "NOM_ROOT"),
                        help="the store's root folder (default: $NOM_ROOT, else ./NOM_ROOT)")
    parser.add_argument("--control", default=CONTROL_ENDPOINT, help=f"control endpoint (default {CONTROL_ENDPOINT})")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="local engine worker processes (default: the number of cores)")
    parser.add_argument("--cache-objects", type=int, default=50_000, help="cache bound in objects")
    parser.add_argument("--cache-bytes", type=int, default=64 * 2**20, help="cache bound in bytes")
    parser.add_argument("--engine", choices=("local", "spark"), default=os.environ.get("NECTAR_ENGINE", "local"),
                        help="the default engine of applies (default: local worker processes)")
    parser.add_argument("--spark-master", default=os.environ.get("NECTAR_SPARK_MASTER", "local[*]"),
                        help="Spark master URL (default local[*]; spark://host:7077, yarn, k8s://...)")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting, repeatable (e.g. spark.executor.memory=4g)")
    parser.add_argument("--attach-hosts", default="127.0.0.1,localhost,::1",
                        help="collector hosts that attach may connect to, comma-separated ('*': any); "
                             "default: loopback only")
    parser.add_argument("--log-dir", default=None, help="write dispatch.log there (default: stderr)")
    parser.add_argument("--keys", default=None, help="CurveZMQ key folder from 'nectar keys init' (required to "
                        "bind beyond loopback; also used to reach collectors that require keys)")
    parser.add_argument("--insecure", action="store_true", help="allow binding beyond loopback without keys")
    parser.add_argument("--pid-file", default=None, help="write the process id there")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the service; exit 0 after a clean shutdown."""
    args = parse_args(argv)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if args.log_dir:
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(Path(args.log_dir) / "dispatch.log")]
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    conf = dict(item.split("=", 1) for item in args.spark_conf if "=" in item)
    try:
        keys = Keys.load(args.keys) if args.keys else None
    except (OSError, ValueError) as exc:
        print(f"nectar-dispatch: --keys: {exc}", file=sys.stderr)
        return 2
    dispatcher = Dispatcher(args.nom_root, control=args.control, workers=args.workers,
                            cache_objects=args.cache_objects, cache_bytes=args.cache_bytes, engine=args.engine,
                            spark_master=args.spark_master, spark_conf=conf,
                            attach_hosts=frozenset(h.strip() for h in args.attach_hosts.split(",") if h.strip()),
                            keys=keys, insecure=args.insecure)
    try:
        dispatcher.start()
    except InsecureBinding as exc:
        print(f"nectar-dispatch: refusing to start: {exc}", file=sys.stderr)
        return 2
    except zmq.ZMQError as exc:
        print(f"nectar-dispatch: cannot bind {args.control}: {exc} (is another dispatch running?)", file=sys.stderr)
        return 2
    if args.pid_file:
        Path(args.pid_file).write_text(f"{os.getpid()}\n")

    def stop(signum: int, frame: object) -> None:
        dispatcher.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"nectar-dispatch: control {dispatcher.control_endpoint}, store {dispatcher.store.root}", flush=True)
    dispatcher.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
