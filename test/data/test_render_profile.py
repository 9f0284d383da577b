"""The profile's HTML report renders in headless Chromium (a screenshot that
is not blank) for a crafted file and for SST-2 dev and ChnSentiCorp (read in
place from ../shared/data; skipped when absent). The screenshot check is a
coarse guard (share of non-background pixels, colour count); the pictures
themselves were looked at by hand when the report was written."""
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import render_profile  # noqa: E402

DATA = os.environ.get("DATA", os.path.join(HERE, "..", "..", "..", "shared", "data"))

needs_chromium = pytest.mark.skipif(render_profile.find_chromium() is None,
                                    reason="chromium is not installed (scripts/setup.sh installs it)")


@needs_chromium
def test_crafted_file_renders(tmp_path):
    data = tmp_path / "small.csv"
    data.write_text("text,label\n"
                    "a fine <b>film</b> & more,pos\n"
                    "a fine <b>film</b> & more,neg\n"
                    "terrible,neg\n"
                    "很好很好,pos\n"
                    "bad row\n", encoding="utf-8")
    r = render_profile.render(str(data), str(tmp_path / "p.html"), str(tmp_path / "p.png"), tokenizer=None)
    prof = r["profile"]
    assert prof["rows"] == 4 and prof["skipped"] == 1
    assert prof["per_class"] == {"neg": 2, "pos": 2}
    assert prof["exact_duplicates"] == 1 and prof["conflicts"] == 1
    html = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;film&lt;/b&gt; &amp; more" in html and "<b>film" not in html
    assert r["png_width"] == 1280 and r["ink"] > 0.02


@needs_chromium
@pytest.mark.parametrize("rel", ["sst2/dev.tsv", "chnsenticorp_htl/ChnSentiCorp_htl_all.csv"])
def test_real_data_renders(tmp_path, rel):
    path = os.path.join(DATA, rel)
    if not os.path.exists(path):
        pytest.skip(path + " not found")
    r = render_profile.render(path, str(tmp_path / "p.html"), str(tmp_path / "p.png"))
    assert r["profile"]["rows"] > 800
    assert r["colours"] >= 8
