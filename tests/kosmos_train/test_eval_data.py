"""The loaders' other public formats: Karpathy split files, VizWiz lists, ImageNet class-name maps."""

import json

import pytest
from PIL import Image

from kosmos_train.eval.data import (
    EvalDataError,
    load_captions,
    load_class_folders,
    load_commonsense,
    load_vqa,
)


def test_karpathy_split_file_keeps_the_test_split(tmp_path):
    (tmp_path / "val2014").mkdir()
    rows = [
        {
            "filepath": "val2014",
            "filename": f"COCO_val2014_{i:012d}.jpg",
            "cocoid": i,
            "split": split,
            "sentences": [{"raw": f"Caption {i}."}, {"raw": f"Other {i}."}],
        }
        for i, split in enumerate(["test", "train", "test", "restval"])
    ]
    (tmp_path / "dataset_coco.json").write_text(json.dumps({"images": rows, "dataset": "coco"}))
    items = load_captions(tmp_path / "dataset_coco.json")
    assert [i.id for i in items] == ["0", "2"] and items[1].references == ["Caption 2.", "Other 2."]
    assert items[0].image == str(tmp_path / "val2014" / "COCO_val2014_000000000000.jpg")
    assert len(load_captions(tmp_path / "dataset_coco.json", split=None)) == 4


def test_vizwiz_list_and_missing_vqa_images(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "VizWiz_val_00000001.jpg")
    rows = [
        {
            "image": "VizWiz_val_00000001.jpg",
            "question": "What is this?",
            "answer_type": "other",
            "answers": [{"answer": "a can", "answer_confidence": "yes"}] * 10,
        }
    ]
    (tmp_path / "val.json").write_text(json.dumps(rows))
    item = load_vqa(tmp_path / "val.json")[0]
    assert item.answers == ["a can"] * 10 and item.image.endswith("VizWiz_val_00000001.jpg")
    (tmp_path / "q.json").write_text(
        json.dumps({"questions": [{"image_id": 7, "question": "?", "question_id": 1}]})
    )
    with pytest.raises(EvalDataError, match="no image for image_id 7"):
        load_vqa(tmp_path / "q.json")


def test_imagenet_class_names_from_index_json_and_synset_lines(tmp_path):
    for wnid in ("n01440764", "n01443537"):
        (tmp_path / "val" / wnid).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "val" / wnid / "a.JPEG")
    (tmp_path / "index.json").write_text(
        json.dumps({"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"]})
    )
    (tmp_path / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius\n"
    )
    for names in ("index.json", "LOC_synset_mapping.txt"):
        items, classes = load_class_folders(tmp_path / "val", tmp_path / names)
        assert classes == ["tench", "goldfish"] and [i.label for i in items] == classes


def test_commonsense_rejects_unknown_lines(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"item1": "a", "item2": "b", "label": "maybe"}\n')
    with pytest.raises(EvalDataError, match="x.jsonl:1"):
        list(load_commonsense(tmp_path / "x.jsonl"))
