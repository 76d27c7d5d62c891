"""TensorFlow Datasets (`tfds:NAME` or `tfds:NAME/CONFIG`): any TFDS text dataset whose labels are a
ClassLabel, a Sequence of ClassLabel or bool features, from a data dir or TFDS's own cache."""

from __future__ import annotations

from pathlib import Path

from .names import parse_label_names, show_names
from .rows import LabelMap, validate_rows
from .splits import DEV_FRACTION, TEST_FRACTION, DatasetSplits, split_dataset
from ..downloads import one_line
from ..fileio import InputError, Param

TFDS_PREFIX = "tfds:"
_TFDS_DEV_SPLITS = ("validation", "dev", "valid", "val")


def _tfds_kind(feature) -> str | None:
    """'text', 'single' (ClassLabel), 'multi' (Sequence of ClassLabel), 'bools' (dict of bools),
    'bool' (one bool) or None for a TFDS feature."""
    import numpy as np
    import tensorflow_datasets as tfds

    f = tfds.features
    if isinstance(feature, f.Text):
        return "text"
    if isinstance(feature, f.ClassLabel):
        return "single"
    if isinstance(feature, f.Sequence) and isinstance(feature.feature, f.ClassLabel):
        return "multi"
    if isinstance(feature, f.FeaturesDict):
        subs = list(feature.values())
        return "bools" if subs and all(_tfds_kind(sub) == "bool" for sub in subs) else None
    if isinstance(feature, f.Tensor) and tuple(feature.shape) == ():
        dtype = np.dtype(feature.np_dtype)
        if dtype == np.bool_:
            return "bool"
        if dtype.kind in "OSU":  # a scalar string tensor: text too
            return "text"
    return None


def _tfds_labels(features, name: str, label_col, supervised) -> tuple:
    """(label features, label names, multi-label, how to read a row's label ids) of a TFDS dataset."""
    kinds = {key: _tfds_kind(feat) for key, feat in features.items()}
    usable = ("single", "multi", "bools")
    if label_col is not None:
        if label_col not in kinds:
            raise InputError(f"tfds:{name}: no feature '{label_col}'; found {', '.join(sorted(kinds))}")
        if kinds[label_col] not in usable:
            raise InputError(f"tfds:{name}: feature '{label_col}' is not a ClassLabel, a Sequence of ClassLabel "
                             "or a dict of bool features; expected one of those as the label feature")
        key = label_col
    elif supervised and supervised[1] in kinds and kinds[supervised[1]] in usable:
        key = supervised[1]
    else:
        found = [k for k in sorted(kinds) if kinds[k] in usable]
        bools = sorted(k for k in kinds if kinds[k] == "bool")
        if len(found) > 1:
            raise InputError(f"tfds:{name}: several label features ({', '.join(found)}); pass ", Param("label_col"))
        if not found and not bools:
            raise InputError(f"tfds:{name}: no ClassLabel, Sequence of ClassLabel or bool features to use as "
                             f"labels; found {', '.join(f'{k} ({kinds[k] or type(features[k]).__name__})' for k in sorted(kinds))}")
        if not found:  # every top-level bool feature is one label (TFDS's goemotions)
            return bools, bools, True, lambda row: tuple(i for i, k in enumerate(bools) if row[k])
        key = found[0]
    feature, kind = features[key], kinds[key]
    if kind == "single":
        return [key], list(feature.names), False, lambda row: (int(row[key]),) if int(row[key]) >= 0 else ()
    if kind == "multi":
        return [key], list(feature.feature.names), True, lambda row: tuple(dict.fromkeys(int(i) for i in row[key]))
    names = sorted(feature.keys())
    return [key], names, True, lambda row: tuple(i for i, k in enumerate(names) if row[key][k])


def _tfds_text(features, name: str, text_col, supervised) -> str:
    kinds = {key: _tfds_kind(feat) for key, feat in features.items()}
    if text_col is not None:
        if kinds.get(text_col) != "text":
            what = "no feature" if text_col not in kinds else "not a text feature"
            raise InputError(f"tfds:{name}: '{text_col}' is {what}; text features: "
                             f"{', '.join(k for k in sorted(kinds) if kinds[k] == 'text') or 'none'}")
        return text_col
    if supervised and kinds.get(supervised[0]) == "text":
        return supervised[0]
    texts = sorted(k for k in kinds if kinds[k] == "text")
    if len(texts) != 1:
        raise InputError(f"tfds:{name}: {'several' if texts else 'no'} text features "
                         f"({', '.join(texts) or ', '.join(sorted(kinds))}); pass ", Param("text_col"))
    return texts[0]


def _tfds_builder(name: str, data_dir):
    """The prepared TFDS builder of `name` (preparing it when TFDS can, i.e. online)."""
    import tensorflow_datasets as tfds

    where = str(Path(data_dir).expanduser()) if data_dir is not None else None
    try:
        builder = tfds.builder(name, data_dir=where)
    except Exception as err:  # DatasetNotFoundError (lists every dataset), bad config names, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"tfds:{name}: {one_line(first)} (data dir {where or 'TFDS default'}); expected a TFDS "
                         "dataset name, prepared there or downloadable") from None
    if not builder.is_prepared():
        try:
            builder.download_and_prepare()
        except Exception as err:
            raise InputError(f"tfds:{name}: not prepared in {builder.data_dir} and download_and_prepare failed "
                             f"({one_line(err)[:300]}); prepare it online once, or pass ", Param("data_dir"),
                             " with a prepared copy") from None
    return builder


def _read_tfds_split(builder, split: str, text_key: str, label_ids, label_map: LabelMap) -> tuple:
    """(TextDataset, dropped counts) of one split; rows with empty text or no label are dropped."""
    import tensorflow_datasets as tfds

    texts, cells = [], []
    for row in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
        text = row[text_key]
        texts.append(text.decode("utf-8") if isinstance(text, bytes) else str(text))
        cells.append(label_ids(row))  # () for ClassLabel -1 (a hidden test label) or no label set
    dataset, dropped = validate_rows(f"{builder.data_dir} [{split}]", range(1, len(texts) + 1), texts, cells,
                                     label_map, columns=(f"feature '{text_key}'", "the label features"),
                                     drop_empty=True, drop_unlabelled=True)
    dropped["empty_text"] += dropped.pop("whitespace_text")  # TFDS notes count both as empty text
    return dataset, {k: v for k, v in dropped.items() if v}


def load_tfds(data: str, data_dir, test_data, text_col, label_col, label_sep, label_names, seed) -> DatasetSplits:
    """A TFDS text dataset with a ClassLabel, a Sequence of ClassLabel or bool label features.

    Uses the builder's train / validation (or dev) / test splits; a missing dev split is carved from
    train, a missing test split is the validation split (dev then carved from train, as for 3tfn) or,
    with train only, carved from train too (seeded, stratified). Bool label features are the labels
    in sorted name order.
    """
    name = data.strip()[len(TFDS_PREFIX):].strip()
    if not name:
        raise InputError(f"{data}: no TFDS dataset name; expected tfds:NAME or tfds:NAME/CONFIG")
    if test_data is not None:
        raise InputError(f"tfds:{name}: test_data does not apply to TFDS datasets; their test split comes from TFDS")
    if label_sep is not None:
        raise InputError(f"tfds:{name}: label_sep does not apply to TFDS datasets; their label features say it")
    builder = _tfds_builder(name, data_dir)
    features, supervised = builder.info.features, builder.info.supervised_keys
    supervised = tuple(supervised) if isinstance(supervised, (tuple, list)) and len(supervised) == 2 \
        and all(isinstance(k, str) for k in supervised) else None
    text_key = _tfds_text(features, name, text_col, supervised)
    label_keys, names, multi, label_ids = _tfds_labels(features, name, label_col, supervised)
    if label_names is not None and parse_label_names(label_names) != [str(n) for n in names]:
        raise InputError(f"tfds:{name}: label_names {show_names(parse_label_names(label_names))} differ from the "
                         f"dataset's ({show_names(names)}); leave ", Param("label_names"), " unset for TFDS datasets")
    label_map = LabelMap([str(n) for n in names], by_name=False)
    available = list(builder.info.splits.keys())
    roles = {"train": "train" if "train" in available else None,
             "dev": next((s for s in _TFDS_DEV_SPLITS if s in available), None),
             "test": "test" if "test" in available else None}
    if roles["train"] is None:
        raise InputError(f"tfds:{name}: no 'train' split; found {', '.join(available) or 'none'}")
    notes = {"source": "tfds", "tfds": {"name": builder.info.full_name, "data_dir": str(builder.data_dir),
                                        "text_feature": text_key, "label_features": label_keys},
             "files": {}, "seed": seed, "dropped": {}}
    sets = {}
    for role, split in roles.items():
        if split is None:
            continue
        sets[role], dropped = _read_tfds_split(builder, split, text_key, label_ids, label_map)
        notes["files"][role] = {"path": f"{builder.data_dir} [{split}]", "origin": "tfds", "split": split}
        for key, count in dropped.items():
            notes["dropped"][f"{role}.{key}"] = count
        if role != "train" and len(sets[role]) == 0:  # e.g. a test split whose labels are hidden (-1)
            del sets[role]
            roles[role] = None
    if not len(sets["train"]):
        raise InputError(f"tfds:{name}: the train split has no labelled, non-empty text")
    if notes["dropped"]:
        notes["dropped"]["total"] = sum(notes["dropped"].values())
    if roles["dev"] and roles["test"]:
        train, dev, test = sets["train"], sets["dev"], sets["test"]
        notes["split"] = f"TFDS splits {roles['train']} / {roles['dev']} / {roles['test']}"
    elif roles["test"] or roles["dev"]:
        test = sets["test"] if roles["test"] else sets["dev"]
        train, dev, _, rule = split_dataset(sets["train"], (DEV_FRACTION, 0), seed, f"tfds:{name}")
        notes["split"] = (f"test from the TFDS '{roles['test'] or roles['dev']}' split; dev carved from "
                          f"'{roles['train']}': {rule}")
    else:
        train, dev, test, rule = split_dataset(sets["train"], (DEV_FRACTION, TEST_FRACTION), seed, f"tfds:{name}")
        notes["split"] = f"from the TFDS '{roles['train']}' split: {rule}"
    notes["rows"] = {"train": len(train), "dev": len(dev), "test": len(test)}
    return DatasetSplits(f"tfds:{name}", [str(n) for n in names], multi, train, dev, test, notes)
