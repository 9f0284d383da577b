#!/usr/bin/env python3
"""Writes test/data/fixtures/clean_cases.json: crafted strings and what each
cleaning step of dm_dataset_clean must make of them, computed with Python's
own implementations as references:

  strip_html           html.parser.HTMLParser (convert_charrefs: html.unescape)
                       collecting the text, tags replaced as clean.c documents
                       (phrasing tags vanish, other tags become a space, a
                       script/style element becomes one space)
  nfkc                 unicodedata.normalize("NFKC")
  strip_control        unicodedata.category: BOM, Cc and Cf removed (whitespace
                       Cc become a space), ZWJ and tag characters kept
  collapse_whitespace  runs of Unicode White_Space -> " "
  trim                 str.strip of the White_Space characters
  all                  the five in clean.c's order

The strings keep to what both sides define alike: HTML 4 entity names with
their ';' (libxml2's table; Python also knows HTML 5's and a few without ';')
and characters of Unicode 14 (Python 3.11; utf8proc 2.8 has 15).

Run: python3 test/data/gen_clean_fixtures.py (no arguments).
"""
import html.parser
import json
import os
import re
import unicodedata

WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
               "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

INLINE = {"a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
          "font", "i", "ins", "kbd", "label", "mark", "nobr", "q", "rp", "rt", "ruby", "s", "samp", "small",
          "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr"}


class TextOf(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.in_raw = False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.in_raw = True
        self.out.append("" if tag in INLINE else " ")

    def handle_startendtag(self, tag, attrs):
        self.out.append("" if tag in INLINE else " ")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.in_raw = False
            return  # the element as a whole is one space
        self.out.append("" if tag in INLINE else " ")

    def handle_data(self, data):
        if not self.in_raw:
            self.out.append(data)


def strip_html(s):
    p = TextOf()
    p.feed(s)
    p.close()
    return "".join(p.out)


def nfkc(s):
    return unicodedata.normalize("NFKC", s)


def strip_control(s):
    out = []
    for ch in s:
        cp = ord(ch)
        cat = unicodedata.category(ch)
        if cp == 0xFEFF:
            continue
        if cat == "Cc":
            if ch in WHITE_SPACE:
                out.append(" ")
            continue
        if cat == "Cf" and cp != 0x200D and not 0xE0020 <= cp <= 0xE007F:
            continue
        out.append(ch)
    return "".join(out)


WS_RUN = re.compile("[" + re.escape(WHITE_SPACE) + "]+")


def collapse(s):
    return WS_RUN.sub(" ", s)


def trim(s):
    return s.strip(WHITE_SPACE)


def all_steps(s):
    return trim(collapse(strip_control(nfkc(strip_html(s)))))


CASES = [
    ("inline tag", "Hello <b>world</b>!"),
    ("paragraphs", "<p>First paragraph.</p><p>Second.</p>"),
    ("line breaks", "line1<br>line2<br/>line3<BR />line4"),
    ("list", "<ul><li>one</li><li>two</li></ul>"),
    ("attributes", "<div class=\"x\" id='y'>Text</div><a href=\"http://e.com/?a=1&amp;b=2\">link</a>"),
    ("image", "see<img src=\"y.png\" alt=\"pic\">this"),
    ("basic entities", "a &amp; b &lt; c &gt; d &quot;q&quot; it&#39;s"),
    ("latin entities", "caf&eacute; &nbsp;na&iuml;ve &euro;5 &hellip; &copy; &Eacute;t&eacute;"),
    ("numeric entities", "&#x4E2D;&#25991; &#X1F600; &#128512; &#65;&#x42;"),
    ("invalid numeric entities", "[&#0;] [&#xD800;] [&#x110000;] [&#150;] [&#146;]"),
    ("comment", "x<!-- hidden <b>comment</b> -->y"),
    ("script and style", "<script>var a = '<b>';</script>text<style>p{color:red}</style>more"),
    ("upper-case script", "<SCRIPT type=\"text/javascript\">alert(1)</SCRIPT>after"),
    ("stray brackets", "AT&T and a < b and 3 > 2"),
    ("doctype", "<!DOCTYPE html><html><body>page</body></html>"),
    ("fullwidth", "Ｈｅｌｌｏ　Ｗｏｒｌｄ！１２３"),
    ("ligatures", "ﬁnance ﬂow ﬀ ﬃ"),
    ("compatibility", "①②③ ™ ㎏ ½ x² Ω Å"),
    ("combining", "e\u0301cole n\u0303 A\u030a"),
    ("emoji sequences", "👨\u200d👩\u200d👧\u200d👦 family 🇫🇷 flag 👍🏽 1\ufe0f\u20e3 ❤\ufe0f"),
    ("emoji tag sequence", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F scotland"),
    ("text and emoji presentation", "☺\ufe0e ☺\ufe0f"),
    ("byte order marks", "\ufeffBOM at start and mid\ufeffdle"),
    ("format characters", "zero\u200bwidth soft\u00adhyphen \u200eLTR\u200f \u2060join"),
    ("tabs and newlines", "tab\there\nnew\r\nline\x0bvt\x0cff"),
    ("other controls", "\x01start\x07bell\x7fdel\x1besc\x85nel\x9cst"),
    ("unicode spaces", "  multiple   spaces\u00a0\u3000and\u2003em\u2009thin  "),
    ("line separators", "x\u2028y\u2029z"),
    ("cjk untouched", "中文测试没有改变"),
    ("cjk punctuation", "中文，测试！（好）"),
    ("japanese", "日本語のテキスト　ｶﾀｶﾅ ガ"),
    ("hangul", "한국어 텍스트"),
    ("arabic", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629\u200f \u061c"),
    ("empty", ""),
    ("only spaces", " \t\n "),
    ("entity makes space", "a&nbsp;&nbsp;b"),
    ("entity nfkc", "&#xFF21;&#xFB01;"),
    ("plain ascii", "Nothing to clean here."),
]


def main():
    cases = []
    for name, s in CASES:
        cases.append({
            "name": name,
            "input": s,
            "strip_html": strip_html(s),
            "nfkc": nfkc(s),
            "strip_control": strip_control(s),
            "collapse_whitespace": collapse(s),
            "trim": trim(s),
            "all": all_steps(s),
        })
    doc = {
        "generator": "test/data/gen_clean_fixtures.py",
        "unicode": unicodedata.unidata_version,
        "cases": cases,
    }
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(os.path.join(here, "fixtures"), exist_ok=True)
    path = os.path.join(here, "fixtures", "clean_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
