"""``python -m course_lib.data``: list the course's datasets, or fetch them into the cache.

    python -m course_lib.data                 # table: name, kind, size, licence, available (where)
    python -m course_lib.data fetch --all     # fill the cache (e.g. before an offline class)
    python -m course_lib.data fetch vader cmudict

``fetch`` exits with status 1, after trying every name, when any dataset could not be had; the
message says what to install or which file to put where. Argument parsing by ``argparse``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from course_lib.data import download, registry


def _size(n: int) -> str:
    value, unit = float(n), "B"
    for bigger in ("kB", "MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def list_table() -> str:
    """The registry as a text table, one dataset per line, with where each one is available."""
    header = ("name", "kind", "size", "licence", "available")
    rows = [header]
    for ds in registry.list_datasets():
        where = registry.locate(ds.name)
        available = f"yes  {where}" if where is not None else f"no   ({ds.install})"
        rows.append((ds.name, ds.kind, _size(ds.size_bytes), _short(ds.licence, 44), available))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    # every column padded but the last, which holds long paths
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]
    mirror = download.mirror_dir()
    lines.append("")
    lines.append(f"cache:  {download.cache_dir()}  (${download.CACHE_ENV})")
    lines.append(f"mirror: {mirror if mirror is not None else 'none'}  (${download.MIRROR_ENV})")
    return "\n".join(line.rstrip() for line in lines)


def fetch_names(names: Sequence[str]) -> int:
    """Fetch each dataset, printing its path or its error; 0 when all succeeded, else 1."""
    failed = []
    for name in names:
        try:
            path = registry.fetch(name)
        except (KeyError, download.DataUnavailableError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            print(f"{name}: FAILED\n{message}\n", file=sys.stderr)
            failed.append(name)
        else:
            print(f"{name}: {path}")
    if failed:
        print(f"could not fetch {len(failed)} of {len(names)}: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.data",
        description="The course's datasets: list them (the default) or fetch them into the cache.",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="print every dataset with its size, licence and availability")
    fetch = commands.add_parser("fetch", help="download or verify datasets into the cache")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="datasets to fetch (see 'list')")
    fetch.add_argument("--all", action="store_true", help="fetch every registered dataset")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        if args.all == bool(args.names):
            fetch.error("give dataset names or --all (not both)")
        return fetch_names([ds.name for ds in registry.list_datasets()] if args.all else args.names)
    print(list_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
