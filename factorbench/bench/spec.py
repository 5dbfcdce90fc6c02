"""Benchmark specs: one TOML file per thesis table under ``benchmarks/``.

A spec has shared settings under ``[base]``, per-preset overrides under
``[presets.<name>]`` (merged key by key over ``base``; nested tables merge, lists replace)
and the table layout under ``[table]``. Every key is checked: a typo is an error naming the
allowed keys. A resolved preset expands into *cells*: models × grid combinations × seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from ..config import config_from_dict
from ..errors import FactorbenchError
from ..paths import benchmarks_dir
from ..train.config import TrainConfig
from .spec_checks import check_spec

PRESETS = ("ci", "quick", "paper")
#: the grid parameter that varies the dataset (its values are dataset names) instead of a
#: model setting, e.g. grid = { dataset = ["cub", "cars", "dogs"] } (Tables 5.3/5.4)
DATASET_KEY = "dataset"


@dataclass
class DatasetSpec:
    name: str
    n_train: Optional[int] = None
    n_test: Optional[int] = None
    seed: int = 0
    #: convert every image to this (C, H, W) for training and evaluation (grey <-> RGB,
    #: antialiased resize; data/convert.py), e.g. MNIST's 1x28x28 to 3x32x32
    image_shape: Optional[List[int]] = None
    #: the split models train on: a split name, or a table dataset -> split for a grid over
    #: datasets (others: "train"), e.g. { cub = "all" } (§5.4.2: "the whole dataset of CUB");
    #: evaluators see it as the train split (``fid``'s reference = "train" uses it)
    train_split: Any = "train"


@dataclass
class PresetSpec:
    """A fully resolved preset: what to train and evaluate."""

    models: List[str]
    dataset: Dict[str, Any]
    metrics: List[str]
    seeds: int = 3
    grid: Dict[str, Any] = field(default_factory=dict)
    model: Dict[str, Any] = field(default_factory=dict)
    train: Dict[str, Any] = field(default_factory=dict)
    metric_params: Dict[str, Any] = field(default_factory=dict)
    #: evaluation batch size
    eval_batch_size: int = 256
    #: per-model additions to ``model`` / ``train`` (e.g. a GAN's epochs): model -> dict
    model_overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    train_overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: two-stage models: model -> the model whose trained cell (same grid point, same seed)
    #: is its stage 1, e.g. { lsr_gan = "vae" } (thesis §3.2.1)
    pretrain: Dict[str, str] = field(default_factory=dict)
    #: per-model metric lists replacing ``metrics`` (a GAN without an encoder has no
    #: reconstructions to score): model -> [evaluator, ...]
    model_metrics: Dict[str, List[str]] = field(default_factory=dict)
    #: rows read from folders of generated images instead of trained here (LR-GAN, FineGAN,
    #: MixNMatch in Tables 5.3/5.4): row name -> folder, where "{dataset}" stands for the
    #: cell's dataset name; relative paths are taken from the working directory
    external: Dict[str, str] = field(default_factory=dict)
    #: the evaluators run on the external rows (they only have samples: FID of random images)
    external_metrics: List[str] = field(default_factory=lambda: ["fid"])
    #: named variants of a registered model, usable in ``models`` like a model (ablations,
    #: Table 6.3): name -> { model = "<registered model>", <config key> = value, ... }
    variants: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    #: the preset's name (its ``[presets.<name>]`` table; set by :func:`load_spec`, not in the
    #: TOML): records, tables and figures are filed under it
    name: str = ""

    def registered(self, model: str) -> str:
        """The registered model behind ``model`` (itself unless it is a variant)."""
        return self.variants[model]["model"] if model in self.variants else model

    def metrics_for(self, model: str) -> List[str]:
        return self.model_metrics.get(model, self.metrics)


@dataclass
class TableSpec:
    #: grid parameter whose values make the rows; "target" for the datasets a model was
    #: evaluated on (Table 4.1), "model" for one row per model (§3.2.1)
    rows: str
    #: metric value names, one column each (per model when the spec has several models)
    columns: List[str]
    row_label: str = ""
    #: spread shown after ±: "std" (over seeds) or "stderr"
    spread: str = "std"
    #: thesis table id whose published numbers can be shown beside ours (results/thesis/)
    thesis: Optional[str] = None
    #: column headers: metric value name -> label
    labels: Dict[str, str] = field(default_factory=dict)
    caption: str = ""
    #: bold the best mean of each column; false where rows are not comparable (different
    #: datasets, as in Table 4.1)
    bold: bool = True
    #: metric value holding a 0/1 collapse flag (e.g. "collapsed" of the samples evaluator):
    #: cells of a (model, row) where most seeds collapsed print "collapse" (Table 3.1)
    collapse: Optional[str] = None
    #: a grid parameter (typically "dataset") whose values split every column into one per
    #: value, e.g. FID (saved) on CUB, Cars, Dogs side by side (Tables 5.3/5.4)
    column_groups: Optional[str] = None

    def __post_init__(self) -> None:
        if self.spread not in ("std", "stderr"):
            raise FactorbenchError(f"table.spread must be 'std' or 'stderr', got {self.spread!r}")


def dataset_key(dataset: DatasetSpec) -> Dict[str, Any]:
    """The dataset's part of a cell id (``image_shape`` only when set and ``train_split``
    only when not "train", so ids of specs written before they existed do not change)."""
    key = dict(vars(dataset))
    if key.get("image_shape") is None:
        key.pop("image_shape", None)
    if key.get("train_split") == "train":
        key.pop("train_split", None)
    return key


@dataclass
class Cell:
    """One training run and its evaluations: a model, a grid point, a seed."""

    model: str
    model_config: Dict[str, Any]
    grid: Dict[str, Any]
    seed: int
    dataset: DatasetSpec
    train: TrainConfig
    #: the stage-1 cell this one starts from (two-stage models), or None
    init_from: Optional["Cell"] = None
    #: the registered model trained (differs from ``model`` for a spec's variant)
    registered: str = ""

    def __post_init__(self) -> None:
        self.registered = self.registered or self.model

    @property
    def id(self) -> str:
        """A hash of everything that determines the run: the *resolved* model config (every
        field with its default filled in and its type applied, so ``beta = 4`` and
        ``beta = 4.0`` are one cell, and a changed model default is a new cell rather than a
        silent reuse of checkpoints trained under the old one), the dataset, the train
        settings, the seed and the stage-1 cell (docs/architecture.md, "Cells")."""
        key = {"model": self.model, "model_config": resolved_model_config(self.registered, self.model_config),
               "seed": self.seed,
               "dataset": dataset_key(self.dataset), "train": self.train.key()}
        if self.registered != self.model:
            key["registered"] = self.registered
        if self.init_from is not None:
            key["init_from"] = self.init_from.id
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class ExternalRow:
    """A row of generated images read from a folder (``external`` of a preset), on one dataset."""

    name: str
    folder: Path
    dataset: DatasetSpec
    grid: Dict[str, Any]

    @property
    def id(self) -> str:
        key = {"external": self.name, "folder": str(self.folder), "dataset": dataset_key(self.dataset)}
        return "external-" + hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class BenchmarkSpec:
    name: str
    title: str
    path: Path
    presets: Dict[str, PresetSpec]
    table: TableSpec
    description: str = ""

    def preset(self, name: str) -> PresetSpec:
        """The resolved preset called ``name``: looked up once where a command starts, then
        passed on as it is (RunOptions.preset, the tables, the report)."""
        if name not in self.presets:
            raise FactorbenchError(f"benchmark {self.name} has no preset {name!r}; presets: {', '.join(self.presets)}")
        return self.presets[name]

    def _resolved(self, preset: Union[PresetSpec, str]) -> PresetSpec:
        return preset if isinstance(preset, PresetSpec) else self.preset(preset)

    def cells(self, preset: Union[PresetSpec, str], seeds: Optional[int] = None) -> List[Cell]:
        """The preset's cells (``preset``: the resolved PresetSpec, or its name)."""
        p = self._resolved(preset)
        where = f"{self.name}.{p.name}"
        dataset = config_from_dict(DatasetSpec, p.dataset, where=f"{where}.dataset")
        for model, stage1 in p.pretrain.items():
            if model not in p.models and model not in p.pretrain.values():
                raise FactorbenchError(f"{where}.pretrain names {model!r}, which is neither one of the models {p.models} "
                                       "nor the stage 1 of one")
        for name, variant in p.variants.items():
            if not isinstance(variant, dict) or "model" not in variant:
                raise FactorbenchError(f"{where}.variants.{name} needs model = \"<registered model>\"")
            if name == variant["model"]:
                raise FactorbenchError(f"{where}.variants.{name}: a variant needs a name of its own")
        involved = list(dict.fromkeys(p.registered(m) for m in list(p.models) + list(p.pretrain.values())))
        keys = sorted(p.grid)
        for key in keys:
            if not isinstance(p.grid[key], list) or not p.grid[key]:
                raise FactorbenchError(f"{where}.grid.{key} must be a non-empty list")
        combos = [dict(zip(keys, values)) for values in itertools.product(*(p.grid[k] for k in keys))]
        n_seeds = p.seeds if seeds is None else seeds
        if n_seeds <= 0:
            raise FactorbenchError("the number of seeds must be positive")


        def cell(model: str, combo: Dict[str, Any], seed: int) -> Cell:
            train = config_from_dict(TrainConfig, {**p.train, **p.train_overrides.get(model, {})},
                                     where=f"{where}.train")
            params = {k: v for k, v in combo.items() if k != DATASET_KEY}
            base = p.registered(model)
            variant = {k: v for k, v in p.variants.get(model, {}).items() if k != "model"}
            config = _model_config(base, {**p.model, **params, **p.model_overrides.get(model, {}), **variant},
                                   involved, where)
            stage1 = cell(p.pretrain[model], combo, seed) if model in p.pretrain else None
            return Cell(model, config, combo, seed, cell_dataset(dataset, combo), train, stage1, registered=base)

        return [cell(model, combo, seed) for model in p.models for combo in combos for seed in range(n_seeds)]

    def external_rows(self, preset: Union[PresetSpec, str]) -> List[ExternalRow]:
        """The preset's external rows, one per (name, dataset of the grid)."""
        p = self._resolved(preset)
        dataset = config_from_dict(DatasetSpec, p.dataset, where=f"{self.name}.{p.name}.dataset")
        values = p.grid.get(DATASET_KEY)
        combos = [{DATASET_KEY: v} for v in values] if values else [{}]
        rows = []
        for name, template in p.external.items():
            if name in p.models:
                raise FactorbenchError(f"{self.name}.{p.name}.external: {name!r} is also a trained model of the preset")
            for combo in combos:
                ds = cell_dataset(dataset, combo)
                rows.append(ExternalRow(name, Path(str(template).replace("{dataset}", ds.name)), ds, combo))
        return rows


def cell_dataset(dataset: DatasetSpec, combo: Dict[str, Any]) -> DatasetSpec:
    """The preset's dataset, renamed by a ``dataset`` grid parameter when there is one, with
    its ``train_split`` resolved to the split name of that dataset."""
    if DATASET_KEY in combo:
        dataset = dataclasses.replace(dataset, name=str(combo[DATASET_KEY]))
    return dataclasses.replace(dataset, train_split=resolve_train_split(dataset.train_split, dataset.name))


def resolve_train_split(value: Any, name: str) -> str:
    """``dataset.train_split`` for dataset ``name``: a split name, or a table name -> split."""
    if isinstance(value, dict):
        bad = [k for k, v in value.items() if not isinstance(v, str)]
        if bad:
            raise FactorbenchError(f"dataset.train_split: the split of {bad[0]} must be a split name, got {value[bad[0]]!r}")
        value = value.get(name, "train")
    if not isinstance(value, str) or not value:
        raise FactorbenchError(f"dataset.train_split must be a split name or a table dataset -> split, got {value!r}")
    return value


def resolved_model_config(model: str, values: Dict[str, Any]) -> Dict[str, Any]:
    """``values`` as the config of registered ``model`` builds them: all fields, defaults
    filled in, numbers coerced to their field's type (JSON-ready: tuples become lists)."""
    from ..config import config_to_dict
    from ..models import MODELS

    return config_to_dict(config_from_dict(MODELS.get(model).config_class, values, where=f"{model} config"))


def config_fields(model: str) -> set:
    from ..models import MODELS

    return {f.name for f in dataclasses.fields(MODELS.get(model).config_class)}


def _model_config(model: str, values: Dict[str, Any], involved: List[str], where: str) -> Dict[str, Any]:
    """The keys of ``values`` that configure ``model``. A key that configures another model
    of the preset (e.g. the VAE's β in a VAE-vs-LSR-GAN table) is left out; a key that
    configures none of them is an error (strict: a typo never passes silently)."""
    own = config_fields(model)
    known = set().union(*(config_fields(m) for m in involved))
    unknown = sorted(k for k in values if k not in known)
    if unknown:
        raise FactorbenchError(f"{where}: {', '.join(unknown)} configure(s) none of the models {', '.join(involved)}")
    return {k: v for k, v in values.items() if k in own}


def _merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def find_spec(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    candidate = benchmarks_dir() / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    known = ", ".join(spec_names()) or "none"
    raise FactorbenchError(f"no benchmark {name_or_path!r}; known: {known}")


def spec_names() -> List[str]:
    root = benchmarks_dir()
    return sorted(p.stem for p in root.glob("*.toml")) if root.is_dir() else []


def load_spec(name_or_path: str) -> BenchmarkSpec:
    path = find_spec(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise FactorbenchError(f"{path}: invalid TOML ({exc})") from None
    allowed = {"name", "title", "description", "base", "presets", "table"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise FactorbenchError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    for key in ("name", "title", "base", "presets", "table"):
        if key not in raw:
            raise FactorbenchError(f"{path}: missing {key!r}")
    bad = sorted(set(raw["presets"]) - set(PRESETS))
    if bad:
        raise FactorbenchError(f"{path}: unknown preset(s) {', '.join(bad)}; presets are {', '.join(PRESETS)}")
    presets = {}
    for name in PRESETS:
        if name in raw["presets"]:
            merged = _merge(raw["base"], raw["presets"][name])
            if "name" in merged:
                raise FactorbenchError(f"{path.name} preset {name}: 'name' is not a preset setting (a preset is "
                                       "named by its [presets.<name>] table)")
            presets[name] = config_from_dict(PresetSpec, {**merged, "name": name}, where=f"{path.name} preset {name}")
    table = config_from_dict(TableSpec, raw["table"], where=f"{path.name} table")
    spec = BenchmarkSpec(raw["name"], raw["title"], path, presets, table, raw.get("description", ""))
    check_spec(spec)
    return spec
