"""``factorbench datasets list|show|prepare``: list, preview and build datasets (factorbench.data)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from .group import Group


@click.group(cls=Group)
def datasets() -> None:
    """List, preview and build datasets."""


@datasets.command("list")
def datasets_list() -> None:
    """Show every registered dataset: kind, image shape, fields, and whether it is built
    (synthetic) or found on disk, and where (real; see --data-root)."""
    from ..data import DATASETS

    for name in DATASETS.names():
        source = DATASETS.get(name)
        d = source.describe()
        if d["kind"] == "synthetic":
            state = "cached" if all(source.is_cached(s) for s in d["sizes"]) else "not built yet"
            sizes = " ".join(f"{k}={v}" for k, v in d["sizes"].items())
        else:
            state = f"found in {d['root']}" if d["found"] else f"not found in {d['root']}"
            if d.get("shipped"):
                state = "found (shipped with factorbench, no data root needed)"
            sizes = "splits " + "/".join(d["sizes"])
        shape = "x".join(map(str, d["image_shape"]))
        click.echo(f"{name:18} {d['kind']:10} {shape:9} {sizes:22} {','.join(d['fields']):34} {state}")


@datasets.command("show")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG file to write.")
@click.option("--split", default="train", show_default=True)
@click.option("-n", "--n", "count", type=click.IntRange(min=1), default=16, show_default=True, help="Number of images in the grid.")
@click.option("--seed", default=0, show_default=True, help="Dataset generation seed.")
def datasets_show(name: str, out: str, split: str, count: int, seed: int) -> None:
    """Draw a grid of NAME's images with masks and boxes overlaid."""
    from ..data import DATASETS, get_dataset
    from ..data.preview import preview_grid

    # a real dataset reads only the first images; a synthetic one is built whole (cheap, and
    # its first images depend on the split size)
    limit = count if DATASETS.get(name).kind == "real" else None
    ds = get_dataset(name, split, n=limit, seed=seed)
    path = preview_grid(ds, n=min(count, len(ds)), out_path=Path(out))
    click.echo(f"wrote {path}")


@datasets.command("prepare")
@click.argument("name")
@click.option("--n-train", type=click.IntRange(min=1), default=None, help="Training-split size (default: the dataset's).")
@click.option("--n-test", type=click.IntRange(min=1), default=None, help="Test-split size (default: the dataset's).")
@click.option("--seed", default=0, show_default=True)
def datasets_prepare(name: str, n_train: Optional[int], n_test: Optional[int], seed: int) -> None:
    """Build every split of NAME (train, test, and val where it has one) and cache it."""
    from ..data import DATASETS, get_dataset

    sizes = {"train": n_train, "test": n_test}
    for split in DATASETS.get(name).describe()["sizes"]:
        n = sizes.get(split)
        ds = get_dataset(name, split, n=n, seed=seed)
        click.echo(f"{name}/{split}: {len(ds)} images {'x'.join(map(str, ds.image_shape))} -> {ds.info.get('cache')}")
