"""`edge-llm-ros`: the command-line entry point. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Subcommand modules, each exposing register(subparsers); missing optional ones are skipped.
SUBCOMMANDS = (
    "edge_llm_ros.cli.bag",
    "edge_llm_ros.cli.models",
    "edge_llm_ros.cli.replay",
    "edge_llm_ros.cli.run",
    "edge_llm_ros.cli.swap",
    "edge_llm_ros.cli.optimize",
    "edge_llm_ros.cli.bench",
    "edge_llm_ros.cli.demo",
    "edge_llm_ros.cli.monitor",
    "edge_llm_ros.cli.ops",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="edge-llm-ros",
        description="Edge perception-to-decision pipeline: sample drives, models, replay, benchmarks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse and dispatch; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
