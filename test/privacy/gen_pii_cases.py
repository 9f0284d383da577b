#!/usr/bin/env python3
"""Generates test/privacy/fixtures/pii_cases.jsonl: a labelled set of English
and Chinese sentences holding personal data of every built-in type in several
formats, and look-alikes that are not personal data.

Each line is {"text": ..., "entities": [{"type", "start", "end"}]} with byte
offsets into the UTF-8 text (END exclusive). Values are written from the
formats' own rules, not from the detector: card numbers get a real issuer
prefix and length and a Luhn check digit, IBANs the registry length and their
mod-97 check digits, Chinese ID numbers a province code, a real birth date and
the ISO 7064 MOD 11-2 check character, SSNs the SSA's valid ranges, phone
numbers real country codes, area codes and number plans.

Labelling rules (what a careful human annotator would mark):
- Formats that cannot be told from any other number without a cue (a bare
  10-digit North American number, a bare or space-separated SSN, a bare UK
  number) appear only right after a cue ("SSN:", "call me at", "电话：").
- URL means a scheme (http, https, ftp) or "www."; a bare domain is not one.
- A URL that contains an e-mail address or an IP is one URL entity.
- Look-alikes: Luhn-failing card numbers, IDs with a wrong check character or
  an impossible date, SSNs in the invalid ranges, IBANs with a wrong check,
  order and tracking numbers, dates, times, versions, ISBNs, prices, MAC
  addresses, file names with '@'.

Run: python3 test/privacy/gen_pii_cases.py (deterministic: seed 20240501).
"""
import ipaddress
import json
import os
import random

SEED = 20240501
R = random.Random(SEED)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "pii_cases.jsonl")


def digits(n):
    return "".join(R.choice("0123456789") for _ in range(n))


# ---- values: each function returns (text, needs_cue)

FIRST = ["john", "mary", "wei", "li", "anna", "peter", "zhang", "olivia", "ahmed", "sofia", "chen", "james"]
LAST = ["smith", "wang", "liu", "brown", "garcia", "zhao", "mueller", "kim", "nguyen", "rossi"]
DOMAINS = ["example.com", "mail.example.org", "163.com", "qq.com", "company.co.uk", "uni-heidelberg.de",
           "sub.example.cn", "outlook.com", "example.museum", "foo-bar.io"]


def email():
    f, l = R.choice(FIRST), R.choice(LAST)
    local = R.choice([f"{f}.{l}", f"{f}_{l}{R.randint(1, 99)}", f"{f[0]}.{l}+news", f"{f}{l}",
                      digits(9).lstrip("0") or "1", f"{f}-{l}.{R.randint(1990, 2005)}"])
    return f"{local}@{R.choice(DOMAINS)}", False


CN_MOBILE_PREFIX = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "145", "147", "150", "151",
                    "152", "153", "155", "156", "157", "158", "159", "166", "170", "173", "176", "177", "178",
                    "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199"]
NANP_AREAS = ["201", "202", "212", "213", "305", "312", "415", "617", "646", "702", "718", "805", "917", "206",
              "303", "404", "512", "604", "416", "503"]


def nanp_parts():
    area = R.choice(NANP_AREAS)
    while True:
        exch = str(R.randint(2, 9)) + digits(2)
        if exch[1:] != "11":
            break
    return area, exch, digits(4)


def phone():
    kind = R.choice(["cn", "cn", "cn_intl", "nanp", "nanp", "nanp_intl", "uk", "uk_intl", "intl", "cn_land",
                     "nanp_bare", "uk_bare"])
    if kind == "cn":
        n = R.choice(CN_MOBILE_PREFIX) + digits(8)
        return R.choice([n, f"{n[:3]} {n[3:7]} {n[7:]}", f"{n[:3]}-{n[3:7]}-{n[7:]}"]), False
    if kind == "cn_intl":
        n = R.choice(CN_MOBILE_PREFIX) + digits(8)
        return R.choice([f"+86 {n}", f"+86 {n[:3]} {n[3:7]} {n[7:]}", f"+86-{n[:3]}-{n[3:7]}-{n[7:]}",
                         f"+86{n}", f"0086 {n}"]), False
    if kind == "cn_land":
        area = R.choice(["010", "021", "020", "0755", "0571", "028"])
        local = str(R.randint(2, 8)) + digits(7 if len(area) == 3 else R.choice([6, 7]))
        return R.choice([f"{area}-{local}", f"{area} {local}", f"({area}) {local}"]), False
    if kind in ("nanp", "nanp_intl", "nanp_bare"):
        a, e, l = nanp_parts()
        if kind == "nanp_bare":
            return a + e + l, True
        if kind == "nanp":
            return R.choice([f"({a}) {e}-{l}", f"{a}-{e}-{l}", f"{a}.{e}.{l}", f"{a} {e} {l}", f"1-{a}-{e}-{l}",
                             f"({a}){e}-{l}"]), False
        return R.choice([f"+1 {a} {e} {l}", f"+1 ({a}) {e}-{l}", f"+1-{a}-{e}-{l}", f"+1{a}{e}{l}"]), False
    if kind in ("uk", "uk_intl", "uk_bare"):
        form = R.choice(["london", "mobile", "manchester", "geo5"])
        if form == "london":
            nat = ["020", "7946", "0" + digits(3)]
        elif form == "mobile":
            nat = ["07" + str(R.randint(4, 9)) + digits(2), "9" + digits(5)]
        elif form == "manchester":
            nat = ["0161", "496", "0" + digits(3)]
        else:
            nat = ["01632", "960" + digits(3)]
        if kind == "uk_bare":
            return "".join(nat), True
        if kind == "uk":
            return R.choice([" ".join(nat), "-".join(nat) if form != "mobile" else " ".join(nat)]), False
        rest = [nat[0][1:]] + nat[1:]
        return R.choice(["+44 " + " ".join(rest), "+44 (0)" + " ".join(rest)]), False
    # other countries, E.164 with spaces as each country writes them
    return R.choice([
        f"+33 {R.randint(1, 9)} {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        f"+49 30 {R.randint(2, 9)}{digits(7)}",
        f"+81 3-{digits(4)}-{digits(4)}",
        f"+61 2 {R.randint(2, 9)}{digits(3)} {digits(4)}",
        f"+91 {R.randint(7, 9)}{digits(4)} {digits(5)}",
        f"+7 495 {digits(3)}-{digits(2)}-{digits(2)}",
        f"+34 {R.randint(6, 9)}{digits(2)} {digits(3)} {digits(3)}",
        f"+852 {R.randint(5, 9)}{digits(3)} {digits(4)}",
    ]), False


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return str((10 - total % 10) % 10)


CARD_BRANDS = [("4", 16), ("4", 16), ("4", 13), ("51", 16), ("53", 16), ("55", 16), ("2221", 16), ("2720", 16),
               ("34", 15), ("37", 15), ("6011", 16), ("65", 16), ("3528", 16), ("3589", 16), ("62", 16),
               ("62", 19), ("36", 14), ("300", 14), ("4", 19)]


def card_number():
    prefix, n = R.choice(CARD_BRANDS)
    body = prefix + digits(n - len(prefix) - 1)
    return body + luhn_digit(body)


def group_card(num, sep):
    if len(num) == 15:
        return sep.join([num[:4], num[4:10], num[10:]])
    if len(num) == 14:
        return sep.join([num[:4], num[4:10], num[10:]])
    return sep.join(num[i:i + 4] for i in range(0, len(num), 4))


def card():
    num = card_number()
    if len(num) == 13:
        return num, False
    return R.choice([num, group_card(num, " "), group_card(num, "-")]), False


IBAN_FORMATS = {  # country: BBAN as (kind, count) pieces: n digits, a capitals, c alphanumerics
    "DE": [("n", 18)], "GB": [("a", 4), ("n", 14)], "FR": [("n", 10), ("c", 11), ("n", 2)],
    "NL": [("a", 4), ("n", 10)], "ES": [("n", 20)], "IT": [("a", 1), ("n", 10), ("c", 12)],
    "CH": [("n", 5), ("c", 12)], "BE": [("n", 12)], "AT": [("n", 16)], "PL": [("n", 24)],
    "SE": [("n", 20)], "NO": [("n", 11)], "SA": [("n", 2), ("c", 18)], "AE": [("n", 19)],
    "BR": [("n", 23), ("a", 1), ("c", 1)], "IE": [("a", 4), ("n", 14)], "DK": [("n", 14)],
    "PT": [("n", 21)], "FI": [("n", 14)], "LU": [("n", 3), ("c", 13)],
}


def iban_check(cc, bban):
    s = bban + cc + "00"
    num = "".join(str(int(ch, 36)) for ch in s)
    return "%02d" % (98 - int(num) % 97)


def iban_valid(compact):
    s = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in s)) % 97 == 1


def make_iban():
    cc = R.choice(sorted(IBAN_FORMATS))
    bban = ""
    for kind, n in IBAN_FORMATS[cc]:
        pool = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}[kind]
        bban += "".join(R.choice(pool) for _ in range(n))
    return cc + iban_check(cc, bban) + bban


def spaced4(s):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def iban():
    code = make_iban()
    assert iban_valid(code)
    return R.choice([code, spaced4(code)]), False


def ip():
    kind = R.choice(["v4", "v4", "v4", "v6c", "v6full", "v6v4"])
    if kind == "v4":
        return ".".join(str(R.choice([R.randint(1, 255), R.randint(0, 9), R.randint(10, 99)])) for _ in range(4)), False
    if kind == "v6v4":
        return f"::ffff:{R.randint(1, 223)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}", False
    words = [R.randint(0, 0xFFFF) for _ in range(8)]
    if kind == "v6c":
        zeros = R.randint(2, 5)
        at = R.randint(1, 8 - zeros)
        for k in range(at, at + zeros):
            words[k] = 0
    addr = ipaddress.IPv6Address(":".join("%x" % w for w in words))
    return (addr.compressed if kind == "v6c" else addr.exploded), False


def url():
    host = R.choice(["example.com", "www.example.org", "docs.python.org", "news.sina.com.cn", "github.com",
                     "shop.example.co.uk", "bbs.example.cn"])
    path = R.choice(["", "/", "/index.html", "/a/b/c", "/search?q=pii&lang=en", "/wiki/Foo_(bar)",
                     "/p/12345#comments", "/download/file.tar.gz", "/api/v2/users?id=42&sort=desc"])
    kind = R.choice(["https", "https", "http", "ftp", "www", "port"])
    if kind == "www":
        return "www." + host.replace("www.", "") + path, False
    if kind == "port":
        return f"http://{host}:{R.choice([8080, 8443, 3000])}{path}", False
    if kind == "ftp":
        return f"ftp://files.{host.replace('www.', '')}/pub{path if path.startswith('/') else '/'}", False
    return f"{kind}://{host}{path}", False


def ssn_parts():
    while True:
        area = R.randint(1, 899)
        if area != 666:
            break
    return "%03d" % area, "%02d" % R.randint(1, 99), "%04d" % R.randint(1, 9999)


def ssn():
    a, g, s = ssn_parts()
    if a + g + s in ("078051120", "219099999", "123456789"):
        a = "536"
    kind = R.choice(["dash", "dash", "space", "bare"])
    if kind == "dash":
        return f"{a}-{g}-{s}", False
    return (f"{a} {g} {s}" if kind == "space" else a + g + s), True


REGIONS = ["110101", "110105", "310104", "440305", "320102", "510107", "330106", "420111", "610113", "130102",
           "210102", "370202", "500103", "650102", "450103", "230102", "810000", "830000"]
W_ID = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_check(body):
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, W_ID)) % 11]


def birth_date():
    y = R.randint(1935, 2012)
    m = R.randint(1, 12)
    mdays = [31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return "%04d%02d%02d" % (y, m, R.randint(1, mdays[m - 1]))


def cn_id():
    body = R.choice(REGIONS) + birth_date() + digits(3)
    c = id_check(body)
    if c == "X" and R.random() < 0.3:
        c = "x"
    return body + c, False


GENERATORS = {"EMAIL_ADDRESS": email, "PHONE_NUMBER": phone, "CREDIT_CARD": card, "IBAN_CODE": iban,
              "IP_ADDRESS": ip, "URL": url, "US_SSN": ssn, "CN_RESIDENT_ID": cn_id}

# ---- look-alikes that are not personal data (value, language hint)


def negative():
    kind = R.choice(["luhn", "luhn", "id_check", "id_date", "order", "order", "tracking", "date", "time",
                     "version", "isbn", "price", "ssn_bad", "iban_bad", "ip_bad", "mac", "file", "invoice",
                     "nanp_bad", "quantity", "coords", "zip", "domain", "hash"])
    if kind == "luhn":
        num = card_number()
        bad = num[:-1] + str((int(num[-1]) + R.randint(1, 9)) % 10)
        return R.choice([bad, group_card(bad, " "), group_card(bad, "-")])
    if kind == "id_check":
        body = R.choice(REGIONS) + birth_date() + digits(3)
        good = id_check(body)
        return body + R.choice([c for c in "0123456789X" if c != good])
    if kind == "id_date":
        date = R.choice(["19900230", "19851301", "20010931", "19990000", "19000229", "21000101"])
        body = R.choice(REGIONS) + date + digits(3)
        return body + id_check(body)
    if kind == "order":
        return "2023%02d%02d" % (R.randint(1, 12), R.randint(1, 28)) + digits(R.choice([8, 10]))
    if kind == "tracking":
        return R.choice(["SF" + digits(13), "1Z" + digits(3) + "AA" + digits(10), "YT" + digits(13),
                         "EA" + digits(9) + "CN", "JDVA" + digits(11), digits(12),
                         "9400 " + " ".join(digits(4) for _ in range(4)) + " " + digits(2)])
    if kind == "date":
        return R.choice(["2023-11-20", "2024/01/05", "20231120", "11/20/2023", "2023年11月20日", "1999-12-31"])
    if kind == "time":
        return R.choice(["12:30:45", "08:00", "23:59:59.999"])
    if kind == "version":
        return R.choice(["v1.2.3.4", "version 10.0.0", "1.2.3", "v2.10.4.1", "Python 3.11.4", "1.3.6.1.4.1.311"])
    if kind == "isbn":
        return R.choice(["978-3-16-148410-0", "ISBN 978-7-111-54742-6", "0-306-40615-2", "9787111547426"])
    if kind == "price":
        return R.choice(["¥1,299.00", "$1,234.56", "€ 99.90", "￥8888", "1,234,567.89 元"])
    if kind == "ssn_bad":
        a, g, s = ssn_parts()
        return R.choice([f"000-{g}-{s}", f"666-{g}-{s}", f"9{digits(2)}-{g}-{s}", f"{a}-00-{s}", f"{a}-{g}-0000",
                         "123-45-6789", "078-05-1120"])
    if kind == "iban_bad":
        code = make_iban()
        k = R.randint(5, len(code) - 1)
        while not code[k].isdigit():
            k = R.randint(5, len(code) - 1)
        bad = code[:k] + str((int(code[k]) + R.randint(1, 9)) % 10) + code[k + 1:]
        return R.choice([bad, spaced4(bad)])
    if kind == "ip_bad":
        return R.choice(["256.100.50.25", "192.168.1.300", "10.0.0", "192.168.01.1", "1.2.3.4.5"])
    if kind == "mac":
        return ":".join("%02X" % R.randint(0, 255) for _ in range(6))
    if kind == "file":
        return R.choice(["icon@2x.png", "logo@3x.jpg", "@zhangsan", "name at example dot com"])
    if kind == "invoice":
        return "INV-" + digits(8) if R.random() < 0.5 else digits(10)
    if kind == "nanp_bad":
        return R.choice(["(123) 456-7890", f"(011) {digits(3)}-{digits(4)}", f"911-555-{digits(4)}",
                         "+999 1234 5678"])
    if kind == "quantity":
        return R.choice(["12,345", "3.14159", "1e-9", "100%", "x2", "3/4"])
    if kind == "coords":
        return R.choice(["39.9042, 116.4074", "N 31°13′", "-33.8688,151.2093"])
    if kind == "zip":
        return R.choice(["94105", "100080", "SW1A 1AA", "200120"])
    if kind == "domain":
        return R.choice(["example.com", "node.js", "e.g.", "readme.md", "baidu.com"])
    return R.choice(["a1b2c3d", "#FF5733", "0x7ffe", "sha256:9f86d081"])


# ---- sentences: (template, cue) — cue templates put a cue word right before the slot

EN = {
    "EMAIL_ADDRESS": [("Please email {} for details.", True), ("Contact: {}", True), ("Send it to {} by Friday.", False),
                      ("{} wrote the last message.", False)],
    "PHONE_NUMBER": [("Call me at {}.", True), ("My phone number is {}", True), ("Tel: {}", True),
                     ("Reach the office on {} during business hours.", False), ("Fax: {}", True)],
    "CREDIT_CARD": [("Card number: {}", True), ("Paid with {} yesterday.", False), ("Charge it to card {} please.", True)],
    "IBAN_CODE": [("IBAN: {}", True), ("Wire the money to {}.", False), ("Account {} belongs to the supplier.", True)],
    "IP_ADDRESS": [("Server {} is down.", True), ("Login from {} was blocked.", False), ("The host at {} responded.", True)],
    "URL": [("Visit {} for more.", False), ("Docs: {}", False), ("(see {})", False), ("The link is {}, thanks.", True)],
    "US_SSN": [("SSN: {}", True), ("Her social security number is {}.", True), ("Applicant {} was approved.", False)],
    "CN_RESIDENT_ID": [("Chinese ID card {}.", True), ("Holder {} checked in.", False)],
}
ZH = {
    "EMAIL_ADDRESS": [("请发邮件到{}联系我们。", True), ("我的邮箱是{}。", True), ("{}发来了一封信", False)],
    "PHONE_NUMBER": [("电话：{}", True), ("手机号码{}，欢迎来电。", True), ("有问题请拨打{}。", False),
                     ("联系人：李先生 {}", True), ("客服热线{}全天服务", True)],
    "CREDIT_CARD": [("信用卡号{}已绑定。", True), ("卡号：{}", True), ("用{}付款成功", False)],
    "IBAN_CODE": [("收款账户IBAN：{}", True), ("请汇款至{}。", False)],
    "IP_ADDRESS": [("服务器地址是{}", True), ("来自{}的登录请求已拦截。", False)],
    "URL": [("详情见{}", False), ("官网：{}。", False), ("访问{}了解更多", False)],
    "US_SSN": [("美国社会安全号码：{}", True), ("SSN {}", True)],
    "CN_RESIDENT_ID": [("身份证号：{}", True), ("证件号码{}，姓名王芳。", True), ("乘客{}已登记", False)],
}
NEG_EN = ["Order {} shipped today.", "Reference: {}", "See item {} in the list.", "The value was {} at noon.",
          "Invoice {} is overdue.", "Tracking {}", "Released {}.", "Price: {}"]
NEG_ZH = ["订单号 {}", "快递单号{}已发出", "日期：{}", "版本{}更新说明", "价格{}，包邮", "编号{}的商品缺货",
          "参考值{}"]


def render(template, value, typ):
    head, tail = template.split("{}")
    start = len(head.encode())
    text = head + value + tail
    ents = [{"type": typ, "start": start, "end": start + len(value.encode())}] if typ else []
    return text, ents


def positive_clause(typ, lang):
    value, needs_cue = GENERATORS[typ]()
    choices = [t for t in (EN if lang == "en" else ZH)[typ] if t[1] or not needs_cue]
    template = R.choice(choices)[0]
    return render(template, value, typ)


def negative_clause(lang):
    return render(R.choice(NEG_EN if lang == "en" else NEG_ZH), negative(), None)


def join(clauses, lang):
    # clauses are joined as sentences are: with punctuation, never run on
    sep = R.choice(["; ", ". ", ", "]) if lang == "en" else R.choice(["，", "；", "。"])
    text, ents = "", []
    for i, (t, e) in enumerate(clauses):
        if i:
            text += (" " if lang == "en" else "") if text[-1] in "。.!?" else sep
        off = len(text.encode())
        text += t
        ents += [{"type": x["type"], "start": x["start"] + off, "end": x["end"] + off} for x in e]
    return {"text": text, "entities": ents}


def main():
    types = list(GENERATORS)
    lines = []
    for typ in types:  # every type alone, in both languages
        for k in range(130):
            lines.append(join([positive_clause(typ, "en" if k % 2 else "zh")], "en" if k % 2 else "zh"))
    for k in range(500):  # look-alikes alone
        lang = "en" if k % 2 else "zh"
        lines.append(join([negative_clause(lang)], lang))
    for k in range(460):  # mixed: entities and look-alikes in one line
        lang = "en" if k % 2 else "zh"
        clauses = [positive_clause(R.choice(types), lang) if R.random() < 0.6 else negative_clause(lang)
                   for _ in range(R.randint(2, 4))]
        lines.append(join(clauses, lang))
    R.shuffle(lines)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(lines)} lines")


if __name__ == "__main__":
    main()
