#!/usr/bin/env python3
"""Oracle for SpecificCharacterSet: pydicom's decoding of text values, as JSON on stdout.

Cases come from every file in pydicom's charset_files folder (each text element, sequences included,
with the Specific Character Set in force for its item) and from a synthetic set: every repertoire
(default, ISO_IR 100...203, ISO_IR 192, GB18030, GBK, ISO 2022 IR 6/13/87/159/149/58 and the ISO 2022
single-byte variants), PN with three groups, multi-valued LO, escapes mid-value, invalid bytes,
misspelt and unknown terms, padding, and seeded random byte strings.

Each case: {"source", "charset_hex" (raw (0008,0005) or null), "terms" (those bytes split on "\\"),
"vr", "hex" (the raw value field), "values" (pydicom's values; PN: list of component lists; or
{"error": ...} where pydicom raises while converting the value, e.g. IndexError for an empty PN
component when ISO 2022 IR 87 is the first term)}.
A case where we knowingly differ from pydicom carries "deviation" (a key of the allow-list in
CharacterSetTests.swift), "values" is then what we return and "pydicom" what pydicom returns.

Usage: python3 charset_oracle.py > cases.json
"""
import contextlib
import json
import os
import random
import sys
import warnings

import pydicom
import pydicom.charset as charset
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.datadict import dictionary_VR
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.valuerep import PersonName

TEXT_VRS = {"SH", "LO", "ST", "LT", "UT", "UC", "AE", "CS", "DA", "TM", "DT", "AS", "IS", "DS", "UI", "UR", "PN"}
# A public tag of each VR, so pydicom's dictionary agrees with the raw element's VR.
TAG_FOR_VR = {
    "SH": 0x00080050, "PN": 0x00100010, "LO": 0x00100020, "CS": 0x00100022, "DA": 0x00100030,
    "TM": 0x00100032, "UC": 0x00100212, "UT": 0x00100218, "AS": 0x00101010, "DS": 0x00101020,
    "LT": 0x00102155, "ST": 0x00120051, "IS": 0x00140206, "DT": 0x00160077, "UI": 0x00181002,
    "UR": 0x00287FE0, "AE": 0x00400001,
}
ESC = b"\x1b"


@contextlib.contextmanager
def deliberate_differences():
    """pydicom patched the way we differ on purpose (see SpecificCharacterSet's documentation)."""
    saved = (dict(charset.python_encoding), dict(charset.CODES_TO_ENCODINGS), charset.handled_encodings)
    charset.python_encoding["ISO_IR 203"] = "iso8859_15"
    charset.python_encoding["ISO 2022 IR 203"] = "iso8859_15"
    charset.CODES_TO_ENCODINGS[ESC + b"-b"] = "iso8859_15"
    charset.handled_encodings = ("iso2022_jp", "iso2022_jp_2")  # ESC $ ) A is stripped like ESC $ ) C
    try:
        yield
    finally:
        charset.python_encoding.clear()
        charset.python_encoding.update(saved[0])
        charset.CODES_TO_ENCODINGS.clear()
        charset.CODES_TO_ENCODINGS.update(saved[1])
        charset.handled_encodings = saved[2]


def deviation_reason(charset_raw):
    text = (charset_raw or b"").decode("latin-1")
    if "203" in text:
        return "ISO_IR 203 is Latin-9"
    if "IR 58" in text:
        return "ISO 2022 IR 58 escape removed"
    return None


def as_json_values(vr, raw, value):
    if len(raw) == 0:
        return []
    items = list(value) if isinstance(value, (list, MultiValue)) else [value]
    if vr == "PN":
        return [list(v.components) if isinstance(v, PersonName) else {"str": str(v)} for v in items]
    return [str(v) for v in items]


def pydicom_values(charset_raw, vr, raw):
    """pydicom's value for a raw element, read through a Dataset exactly as from a file."""
    ds = Dataset()
    if charset_raw is not None:
        ds._dict[Tag(0x00080005)] = RawDataElement(Tag(0x00080005), "CS", len(charset_raw), charset_raw, 0, False, True)
    tag = Tag(TAG_FOR_VR[vr])
    ds._dict[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = ds[tag].value
        except Exception as error:  # pydicom itself fails on this value: no answer to compare with
            return {"error": f"{type(error).__name__}: {error}"}
        return as_json_values(vr, raw, value)


def make_case(source, charset_raw, vr, raw, expected=None):
    case = {
        "source": source,
        "charset_hex": None if charset_raw is None else charset_raw.hex(),
        "terms": [] if charset_raw is None else [t.decode("latin-1") for t in charset_raw.split(b"\\")],
        "vr": vr,
        "hex": raw.hex(),
    }
    values = expected if expected is not None else pydicom_values(charset_raw, vr, raw)
    case["values"] = values
    if deviation_reason(charset_raw) and expected is None:
        with deliberate_differences():
            ours = pydicom_values(charset_raw, vr, raw)
        if ours != values:
            case["deviation"] = deviation_reason(charset_raw)
            case["pydicom"] = values
            case["values"] = ours
    return case


# ---------------------------------------------------------------- pydicom's charset_files


def file_cases():
    folder = os.path.join(os.path.dirname(pydicom.__file__), "data", "charset_files")
    cases = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".dcm"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(os.path.join(folder, name))
            walk(ds, None, name, cases)
    return cases


def raw_charset(ds, inherited):
    if Tag(0x00080005) not in ds._dict:
        return inherited
    elem = ds.get_item(0x00080005)
    if isinstance(elem, RawDataElement):
        raw = elem.value or b""
    else:
        value = elem.value
        raw = "\\".join(value if isinstance(value, (list, MultiValue)) else [value]).encode("latin-1")
    return raw if raw.rstrip(b" \x00") else inherited


def walk(ds, inherited, source, cases):
    charset_raw = raw_charset(ds, inherited)
    for tag in list(ds._dict.keys()):
        elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement):
            vr = elem.VR or (dictionary_VR(tag) if not tag.is_private else None)
            raw = elem.value
        else:
            vr, raw = elem.VR, None
        if vr == "SQ":
            value = ds[tag].value
            for i, item in enumerate(value if isinstance(value, Sequence) else []):
                walk(item, charset_raw, f"{source} {tag}[{i}]", cases)
            continue
        if vr not in TEXT_VRS or raw is None or tag == 0x00080005:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ds[tag].value
        cases.append(make_case(f"{source} {tag}", charset_raw, vr, raw, as_json_values(vr, raw, value)))
        if deviation_reason(charset_raw):
            cases[-1] = make_case(f"{source} {tag}", charset_raw, vr, raw)


# ---------------------------------------------------------------- synthetic cases


def b(text):
    return text.encode("latin-1")


SINGLE_BYTE = [
    # term, python codec, escape sequence, sample
    ("100", "latin_1", b"\x1b-A", "Buc^Jérôme=Ærø"),
    ("101", "iso8859_2", b"\x1b-B", "Dvořák^Antonín"),
    ("109", "iso8859_3", b"\x1b-C", "Ħal Għargħur^Ċensu"),
    ("110", "iso8859_4", b"\x1b-D", "Ģirts^Ķēniņš"),
    ("126", "iso8859_7", b"\x1b-F", "Διονυσιος^Ωμέγα"),
    ("127", "iso8859_6", b"\x1b-G", "قباني^لنزار"),
    ("138", "iso8859_8", b"\x1b-H", "שרון^דבורה"),
    ("144", "iso8859_5", b"\x1b-L", "Люкceмбypг^Иван"),
    ("148", "iso8859_9", b"\x1b-M", "Çağlar^Şükrü"),
    ("166", "tis_620", b"\x1b-T", "ภาษาไทย^สมชาย"),
    ("203", "iso8859_15", b"\x1b-b", "Œuvre^Šž €"),
]


def undefined_byte(codec):
    for x in range(0x80, 0x100):
        try:
            bytes([x]).decode(codec)
        except UnicodeDecodeError:
            return bytes([x])
    return b"\xff"


def synthetic_cases():
    cases = []

    def add(label, charset_raw, vr, raw):
        cases.append(make_case("synthetic: " + label, charset_raw, vr, raw))

    # Default repertoire: absent, empty, ISO_IR 6; bytes above 0x7F are Latin-1 in pydicom.
    for cs in [None, b"", b"ISO_IR 6", b"\\ISO 2022 IR 6"]:
        add("default PN", cs, "PN", b"Doe^John^M^Dr^Jr=Ideo=Phon ")
        add("default LO multi", cs, "LO", b"ABC\\ DEF \\GHI\x00")
        add("default high bytes", cs, "LO", b"caf\xe9 \x80\x9f\xff")
        add("default ST", cs, "ST", b"line1\r\nline2\\not split  ")
    # Every text VR's trimming, default repertoire and a multi-byte set.
    for cs in [None, b"ISO_IR 192"]:
        for vr, raw in [
            ("AE", b"  STORESCP \\ B  "), ("AS", b"042Y"), ("CS", b"ORIGINAL \\PRIMARY \\ AXIAL "),
            ("DA", b"20240101\\20240102 "), ("TM", b"101010.5 "), ("DT", b"20240101101010.000000+0100 "),
            ("IS", b" 12\\-3 \\ 4 "), ("DS", b" 1.5\\2E3 \\ -0.25 "), ("UI", b"1.2.840.10008.1.2\x00"),
            ("UI", b"1.2.3\\1.2.4 \x00"), ("UR", b"http://example.com/a b  "), ("SH", b"  lead\\trail  \x00"),
            ("LO", b"A\\\\B"), ("LT", b"text\\with\\backslashes \x00"), ("UT", b" lead  "), ("UC", b"A\\B  "),
            ("PN", b"A^B\\C^D  "), ("PN", b"=Ideo"), ("PN", b"A==Phon"), ("PN", b"A=B=C=D"), ("PN", b"  "),
            ("LO", b""), ("PN", b""), ("DS", b"   "), ("IS", b" "), ("AE", b"\xa0AE\x85"), ("UR", b"x\x1c\x85"),
        ]:
            add(f"trim {vr}", cs, vr, raw)

    # Single-byte sets: plain, ISO 2022 form, code extension from ISO 2022 IR 6, invalid byte.
    for term, codec, esc, sample in SINGLE_BYTE:
        encoded = sample.encode(codec)
        alpha = sample.split("^")[0].encode(codec)
        add(f"ISO_IR {term} PN", b"ISO_IR " + b(term), "PN", encoded)
        add(f"ISO_IR {term} PN 3 groups", b"ISO_IR " + b(term), "PN", alpha + b"^X=" + alpha + b"=" + alpha + b" ")
        add(f"ISO_IR {term} LO multi", b"ISO_IR " + b(term), "LO", alpha + b"\\" + alpha + b" ")
        add(f"ISO_IR {term} LT", b"ISO_IR " + b(term), "LT", encoded + b"\r\n" + encoded)
        add(f"ISO_IR {term} all bytes", b"ISO_IR " + b(term), "UT", bytes(range(0x20, 0x100)).replace(b"\\", b""))
        add(f"ISO_IR {term} invalid", b"ISO_IR " + b(term), "LO", alpha + undefined_byte(codec) + alpha)
        add(f"ISO 2022 IR {term} alone", b"ISO 2022 IR " + b(term), "LO", alpha)
        ext = b"ISO 2022 IR 6\\ISO 2022 IR " + b(term)
        add(f"ISO 2022 IR {term} extension PN", ext, "PN", b"Name^X=" + esc + alpha + b"^" + esc + alpha + b"\x1b(B")
        add(f"ISO 2022 IR {term} extension mid-value", ext, "LO", b"ab " + esc + alpha + b"\x1b(B cd\\e" + esc + alpha)
        add(f"ISO 2022 IR {term} extension delimiter", ext, "ST", esc + alpha + b"\r\n" + alpha + b"\t" + alpha)
        add(f"ISO 2022 IR {term} extension invalid", ext, "LO", esc + alpha + undefined_byte(codec) + b"z")
        add(f"ISO 2022 IR {term} escape not declared", b"ISO 2022 IR 6", "LO", esc + alpha)
        add(f"ISO 2022 IR {term} with 100", b"ISO 2022 IR 100\\ISO 2022 IR " + b(term), "LO",
            "é".encode("latin-1") + esc + alpha + b"\x1b-A\xe9")

    # ISO_IR 192 (UTF-8).
    utf8 = b"ISO_IR 192"
    add("UTF-8 PN", utf8, "PN", "Wang^XiaoDong=王^小東=".encode())
    add("UTF-8 LO multi", utf8, "LO", "Grüße\\😀 ünïcödé \\Ω".encode())
    add("UTF-8 BOM", utf8, "LO", "\ufeffBOM".encode())
    for bad in [b"\x80", b"\xc3", b"a\xc3(b", b"\xe2\x82", b"\xe2\x82(", b"\xf0\x9f\x98", b"\xf0\x80\x80\x80",
                b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80", b"\xff\xfe", b"\xe0\x80\xaf",
                b"\xf0\x9f\x98\x80\x9f"]:
        add(f"UTF-8 invalid {bad.hex()}", utf8, "LO", b"x" + bad + b"y")
    add("UTF-8 first of several", b"ISO_IR 192\\ISO 2022 IR 87", "LO", "王".encode())
    add("UTF-8 not as extension", b"ISO 2022 IR 6\\ISO_IR 192", "LO", "王".encode())

    # GB18030 and GBK.
    for term, codec in [(b"GB18030", "gb18030"), (b"GBK", "gbk"), (b"ISO 2022 GBK", "gbk")]:
        add(f"{term} PN", term, "PN", "Wang^XiaoDong=王^小东=".encode(codec))
        add(f"{term} LO", term, "LO", "中文测试\\第二".encode(codec) + b" ")
        add(f"{term} backslash trail byte", term, "LO", b"\x81\x5c\x95\x5c")  # 0x5C as second byte
        for bad in [b"\x81", b"\x80A", b"\xffA", b"\x81\x7f", b"\xa1\x40", b"\x81\x30", b"\x81\x30\x81",
                    b"\xff\x30\x81\x30", b"\x84\x31\xa5\x30", b"\xe3\x32\x9a\x36", b"\x81\x30\xff\x30"]:
            add(f"{term} invalid {bad.hex()}", term, "LO", b"a" + bad + b"b")
    add("GB18030 four-byte", b"GB18030", "LO", "\u0080é€ḿ\u3000\uffff😀\U0010ffff".encode("gb18030"))
    add("GB18030 two-byte extension", b"GB18030", "LO", "ǹ\ue5e5".encode("gb18030"))
    add("GB18030 as extension is dropped", b"ISO 2022 IR 100\\GB18030", "LO", "中".encode("gb18030"))

    # ISO 2022 IR 87 (JIS X 0208) and IR 13 (JIS X 0201), PS3.5 Annex H.
    jp = b"\\ISO 2022 IR 87"
    h31 = b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B"
    add("IR 87 PN H.3.1", jp, "PN", h31)
    add("IR 87 LO multi", jp, "LO", b"\x1b$B;3ED\x1b(B\\x\x1b$BB@O:\x1b(B ")
    add("IR 87 mid-value", jp, "LO", b"AB\x1b$B;3ED\x1b(BCD")
    add("IR 87 not reset at backslash", jp, "LO", b"\x1b$B;3\\ED\x1b(B")
    add("IR 87 not reset at end", jp, "SH", b"\x1b$B;3ED")
    add("IR 87 odd byte", jp, "LO", b"\x1b$B;3E\x1b(Bz")
    add("IR 87 invalid pair", jp, "LO", b"x\x1b$B\x7f\x7f\x1b(By")
    add("IR 87 high byte", jp, "LO", b"\x1b$B;3\xe9\x1b(B")
    add("IR 87 ESC $ @", jp, "LO", b"\x1b$@;3ED\x1b(B")
    add("IR 87 fullwidth reverse solidus", jp, "LO", b"\x1b$B!@\x1b(B")
    add("IR 87 CR LF inside", jp, "ST", b"\x1b$B;3\r\nED\x1b(B")
    add("IR 87 undeclared", b"ISO 2022 IR 6", "LO", b"\x1b$B;3ED\x1b(B")
    add("IR 87 truncated escape", jp, "LO", b"ab\x1b$")
    add("IR 87 unknown escape", jp, "LO", b"ab\x1b(Zcd")
    add("IR 87 lone ESC", jp, "LO", b"ab\x1b")
    h32 = (b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J=\x1b$B$d$^$@\x1b(J^"
           b"\x1b$B$?$m$&\x1b(J")
    add("IR 13 + 87 PN H.3.2", b"ISO 2022 IR 13\\ISO 2022 IR 87", "PN", h32)
    add("ISO_IR 13 katakana", b"ISO_IR 13", "LO", b"\xd4\xcf\xc0\xde \xb1\xa1\xdf\\~")
    add("ISO_IR 13 invalid", b"ISO_IR 13", "LO", b"\x80\xa0\xfd\x81")
    add("ISO_IR 13 shift-jis pair", b"ISO_IR 13", "LO", b"\x88\x9f\x81\x40\xeb\x40")
    add("IR 13 romaji escape", b"ISO 2022 IR 13\\ISO 2022 IR 87", "LO", b"\x1b(J\\~\x1b)I\xb1")

    # ISO 2022 IR 159 (JIS X 0212).
    jp2 = b"ISO 2022 IR 6\\ISO 2022 IR 87\\ISO 2022 IR 159"
    add("IR 159 PN", jp2, "PN", b"Yamada=\x1b$B;3ED\x1b(B^\x1b$(D0!\x1b(B")
    add("IR 159 LO", jp2, "LO", b"\x1b$(D0!0\"\x1b(B\\\x1b$(D\x22\x2f\x1b(B")
    add("IR 159 invalid pair", jp2, "LO", b"\x1b$(D\x21\x21\x1b(B")
    add("IR 159 without 87", b"\\ISO 2022 IR 159", "LO", b"\x1b$(D0!\x1b(B")

    # ISO 2022 IR 149 (KS X 1001), PS3.5 Annex I.
    kr = b"\\ISO 2022 IR 149"
    add("IR 149 PN", kr, "PN", b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf")
    add("IR 149 LT with reset", kr, "LT", b"\x1b$)C\xc7\xd1\xb1\xdb\r\nEnglish \x1b$)C\xb1\xdb")
    add("IR 149 make-up sequence", kr, "LO", b"\x1b$)C\xa4\xd4\xa4\xa1\xa4\xbf\xa4\xd4")
    add("IR 149 invalid", kr, "LO", b"\x1b$)C\xfb\x41\xc8")
    add("IR 149 first", b"ISO 2022 IR 149", "LO", b"\xc7\xd1\xb1\xdb\xff")

    # ISO 2022 IR 58 (GB 2312), PS3.5 Annex K.
    cn = b"\\ISO 2022 IR 58"
    add("IR 58 PN", cn, "PN", b"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab=")
    add("IR 58 LO", cn, "LO", b"\x1b$)A\xd6\xd0\xce\xc4\x1b(B\\x")
    add("IR 58 invalid", cn, "LO", b"\x1b$)A\xd6")
    add("ISO 2022 58 term", b"ISO 2022 58", "LO", b"\xd6\xd0\xce\xc4")

    # Terms: misspellings, unknown, padding, stand-alone sets.
    latin = "Jérôme".encode("latin-1")
    for cs in [b"ISO IR 100", b"ISO-IR 100", b"ISO_IR 100 ", b"ISO_IR 100\x00", b" ISO_IR 100", b"iso_ir 100",
               b"ISO IR 999", b"FOO", b"ISO_2022_IR_100", b"ISO 2022 IR 100\\", b"ISO_IR 100\\ISO_IR 144"]:
        add(f"term {cs!r}", cs, "LO", latin)
    add("term ISO 2022-IR 87", b"ISO 2022 IR 6\\ISO 2022-IR 87", "LO", b"\x1b$B;3\x1b(B")
    add("term 2022 misspelt unknown", b"ISO 2022 IR 6\\ISO_2022_IR 999", "LO", b"\x1b$B;3\x1b(B")
    # DS / IS: what pydicom cannot parse is converted as SH (with the character set) instead.
    for vr in ["DS", "IS"]:
        for raw in [b"1.5\\abc", b" 1_000 ", b"1e5", b".53", b"nan", b"-inf", b"1e400", b"0x10", b"1,5", b"\xa0 7\x85",
                    b"\xe9\xe8", b"12\\ \\-1.25e-7 ", b"++1", b"1__0", b"_1", b"1.", b".", b"e5"]:
            add(f"number {vr} {raw!r}", b"ISO_IR 144", vr, raw)
    add("stand-alone later dropped", b"ISO 2022 IR 100\\GBK\\ISO 2022 IR 144", "LO", b"\xe9\x1b-L\xbb")
    return cases


RANDOM_CHARSETS = [
    None, b"ISO_IR 100", b"ISO_IR 127", b"ISO_IR 166", b"ISO_IR 203", b"ISO_IR 13", b"ISO_IR 192", b"GB18030",
    b"GBK", b"\\ISO 2022 IR 87", b"ISO 2022 IR 13\\ISO 2022 IR 87", b"\\ISO 2022 IR 87\\ISO 2022 IR 159",
    b"\\ISO 2022 IR 149", b"\\ISO 2022 IR 58", b"ISO 2022 IR 100\\ISO 2022 IR 144\\ISO 2022 IR 126",
    b"ISO 2022 IR 87", b"ISO 2022 IR 159", b"ISO 2022 IR 149", b"ISO 2022 IR 58", b"ISO 2022 58",
]
RANDOM_PIECES = [
    b"\x1b$B", b"\x1b(B", b"\x1b(J", b"\x1b)I", b"\x1b$(D", b"\x1b$)C", b"\x1b$)A", b"\x1b-A", b"\x1b-L",
    b"\x1b-F", b"\x1b$", b"\x1b", b"\x1bN", b"\x1b.A", b"\x1b&@\x1b$B", b"\x1b(I", b"\x1b$(C", b"\x1b$A",
    b"\\", b"=", b"^", b"\r\n", b"\t", b" ", b"\x00", b";3", b"ED", b"0!", b"\xa4\xd4", b"\x81\x30", b"\x90\x30",
]


def random_cases(count_per_charset=25):
    rng = random.Random(20261129)
    cases = []
    for cs in RANDOM_CHARSETS:
        for n in range(count_per_charset):
            parts = []
            for _ in range(rng.randint(1, 10)):
                r = rng.random()
                if r < 0.4:
                    parts.append(rng.choice(RANDOM_PIECES))
                elif r < 0.7:
                    parts.append(bytes(rng.randint(0x21, 0x7E) for _ in range(rng.randint(1, 4))))
                else:
                    parts.append(bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(1, 4))))
            vr = ["LO", "PN", "ST", "SH"][n % 4]
            cases.append(make_case(f"random {cs!r} #{n}", cs, vr, b"".join(parts)))
        for n in range(count_per_charset // 2):
            raw = bytes(rng.randint(0, 0xFF) for _ in range(rng.randint(0, 12)))
            vr = rng.choice(sorted(TEXT_VRS))
            cases.append(make_case(f"random bytes {cs!r} #{n}", cs, vr, raw))
    return cases


def main():
    cases = file_cases() + synthetic_cases() + random_cases()
    json.dump({"pydicom": pydicom.__version__, "cases": cases}, sys.stdout, ensure_ascii=True, indent=0)


if __name__ == "__main__":
    main()
