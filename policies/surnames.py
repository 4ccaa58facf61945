"""Project-owned readings of Chinese surnames.

pypinyin has no surname mode: it reads a surname like any other character,
so 曾 comes out ``ceng``, 单 ``dan``, 区 ``qu``...  This table is the
authority for the *surname* part of a name; the given name is still read by
pypinyin (where 单 in 张单 rightly stays ``dan``).

Readings are toneless Hanyu Pinyin, lower case, one syllable per character
separated by a space; ü is written ``ü`` and rendered later according to
``naming.u_umlaut``.  Entries whose reading equals pypinyin's current default
are listed anyway: the table, not the library version, decides.

Only readings the dictionaries agree on are here.  Where a family may use
another reading the comment says so; such a person gets a
``[naming.overrides]`` entry, the table is not changed per person.
Surnames not in the table fall back to pypinyin's default reading.

Pure data and two lookups: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# fmt: off
_SINGLE: dict[str, str] = {
    # --- read wrongly by pypinyin 0.55 by default -------------------------
    "曾": "zeng",   # default ceng
    "单": "shan",   # default dan; the compound 单于 (chanyu) needs the family-name column
    "解": "xie",    # default jie
    "仇": "qiu",    # default chou
    "朴": "piao",   # Korean-Chinese surname; default pu
    "区": "ou",     # default qu
    "查": "zha",    # default cha
    "盖": "ge",     # default gai; contested: some families say Gài
    "乐": "yue",    # default le; contested: some families say Lè
    "缪": "miao",   # default mou
    "覃": "qin",    # default tan; contested: some families say Tán
    "翟": "zhai",   # default di; Dí is the classical reading, Zhái the modern one
    "秘": "bi",     # default mi
    "繁": "po",     # default fan
    "种": "chong",  # default zhong
    "折": "she",    # default zhe
    "员": "yun",    # default yuan
    "隗": "wei",    # default kui; Kuí only for the ancient state
    "召": "shao",   # default zhao
    "句": "gou",    # default ju
    "薄": "bo",     # default bao
    "洗": "xian",   # default xi; same surname as 冼
    "都": "du",     # default dou
    "卜": "bu",     # default bo (萝卜)
    "长": "chang",  # default zhang; rare as a single surname (长孙 is zhangsun)
    "重": "chong",  # default zhong
    "乜": "nie",    # default mie
    "粘": "nian",   # default zhan
    "么": "yao",    # default me
    "祭": "zhai",   # default ji
    "炅": "gui",    # default jiong (何炅 is a given name, unaffected)
    "阚": "kan",    # default han
    "蔚": "yu",     # default wei; contested: some families say Wèi
    "佴": "nai",    # default er; contested: Èr is also heard
    "颉": "xie",    # default jie (仓颉); contested: some families say Jié
    # --- pypinyin agrees today; pinned so a library update cannot change uids
    "华": "hua",
    "任": "ren",
    "沈": "shen",
    "石": "shi",
    "柏": "bai",    # Bǎi, not bo
    "费": "fei",
    "葛": "ge",
    "燕": "yan",
    "冼": "xian",
    "过": "guo",
    "尉": "wei",    # as a single surname Wèi (尉缭); Yù only in 尉迟 (yuchi)
    "相": "xiang",
    "纪": "ji",
    "宁": "ning",
    "殷": "yin",
    "莘": "shen",   # Shēn; Xīn only in place names (莘庄)
    "朝": "chao",   # Cháo (= 晁); Zhāo is not used as a surname reading
    "郇": "huan",   # Huán; Xún is the place/state reading
    "褚": "chu",
    "贲": "ben",
    "叶": "ye",
    "谌": "chen",   # contested: some families say Shèn
    "宓": "mi",     # contested: some families say Fú
    "眭": "sui",
    "逄": "pang",
    "车": "che",
    "贾": "jia",
    "臧": "zang",
    "吕": "lü",
    "闾": "lü",
    "万": "wan",    # Mò only in 万俟 (moqi)
    "那": "na",
    "曲": "qu",
    "尹": "yin",
    "牟": "mou",
    "盛": "sheng",
    "戚": "qi",
    "沙": "sha",
    "夏": "xia",
    "景": "jing",
    "干": "gan",
    "汤": "tang",
    "陆": "lu",
    "应": "ying",
    "要": "yao",
    "厍": "she",
    "尚": "shang",
    "哈": "ha",
    "和": "he",
    "台": "tai",
    "亓": "qi",
    "訾": "zi",
    "瞿": "qu",
    "俞": "yu",
    "于": "yu",
}

_COMPOUND: dict[str, str] = {
    "欧阳": "ou yang",
    "司马": "si ma",
    "诸葛": "zhu ge",
    "上官": "shang guan",
    "尉迟": "yu chi",
    "东方": "dong fang",
    "皇甫": "huang fu",
    "公孙": "gong sun",
    "慕容": "mu rong",
    "夏侯": "xia hou",
    "令狐": "ling hu",
    "长孙": "zhang sun",
    "宇文": "yu wen",
    "司徒": "si tu",
    "司空": "si kong",
    "端木": "duan mu",
    "独孤": "du gu",
    "南宫": "nan gong",
    "西门": "xi men",
    "百里": "bai li",
    "呼延": "hu yan",
    "万俟": "mo qi",
    "澹台": "tan tai",
    "轩辕": "xuan yuan",
    "钟离": "zhong li",
    "闻人": "wen ren",
    "赫连": "he lian",
    "申屠": "shen tu",
    # 单于 (chanyu) is left out on purpose: 单 + a given name starting with 于 is far
    # more common today; a real 单于 family sets the HR family-name column.
    "太史": "tai shi",
    "拓跋": "tuo ba",
    "第五": "di wu",
    "公羊": "gong yang",
    "濮阳": "pu yang",
    "淳于": "chun yu",
    "鲜于": "xian yu",
    "闾丘": "lü qiu",
    "仲孙": "zhong sun",
    "太叔": "tai shu",
    "公冶": "gong ye",
    "亓官": "qi guan",
    "司寇": "si kou",
    "颛孙": "zhuan sun",
    "巫马": "wu ma",
    "公西": "gong xi",
    "漆雕": "qi diao",
    "壤驷": "rang si",
    "公良": "gong liang",
    "宰父": "zai fu",
    "谷梁": "gu liang",
    "东郭": "dong guo",
    "羊舌": "yang she",
    "微生": "wei sheng",
    "仉督": "zhang du",
    "夹谷": "jia gu",
    "爱新觉罗": "ai xin jue luo",
    "叶赫那拉": "ye he na la",
    # Deliberately absent: 乐正, 宗政, 段干, 左丘, 梁丘, 东门 - the first
    # character is a common single surname and the second a common first
    # character of a given name, so guessing "compound" would misread far
    # more people than it helps.  子车 (ziju / ziche) is contested.
}

# Traditional forms, mapped to the simplified keys above for the surname
# lookup only (HR exports from Hong Kong / Taiwan subsidiaries).  A character
# whose traditional form is also a different simplified surname is not here.
_TRADITIONAL: dict[str, str] = {
    "單": "单", "區": "区", "蓋": "盖", "樂": "乐", "繆": "缪", "種": "种",
    "員": "员", "華": "华", "費": "费", "過": "过", "紀": "纪", "寧": "宁",
    "長": "长", "諶": "谌", "闞": "阚", "賁": "贲", "葉": "叶", "車": "车",
    "賈": "贾", "呂": "吕", "閭": "闾", "應": "应", "厙": "厍", "湯": "汤",
    "萬": "万", "陸": "陆", "頡": "颉", "歐": "欧", "陽": "阳", "諸": "诸",
    "馬": "马", "遲": "迟", "孫": "孙", "臺": "台", "鍾": "钟", "離": "离",
    "軒": "轩", "轅": "辕", "聞": "闻", "東": "东", "獨": "独", "宮": "宫",
    "門": "门", "連": "连", "鮮": "鲜", "顓": "颛", "駟": "驷", "夾": "夹",
    "穀": "谷", "覺": "觉", "羅": "罗", "愛": "爱",
}
# fmt: on


def _split(reading: str) -> tuple[str, ...]:
    return tuple(reading.split(" "))


SINGLE_SURNAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({k: _split(v) for k, v in _SINGLE.items()})
COMPOUND_SURNAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({k: _split(v) for k, v in _COMPOUND.items()})
TRADITIONAL_TO_SIMPLIFIED: Mapping[str, str] = MappingProxyType(dict(_TRADITIONAL))
_LONGEST_COMPOUND = max(len(k) for k in _COMPOUND)
# The first two characters of every compound (all have two or more): most names start with none of them.
_COMPOUND_HEADS = frozenset(k[:2] for k in _COMPOUND)


def _simplified(text: str) -> str:
    return "".join(TRADITIONAL_TO_SIMPLIFIED.get(ch, ch) for ch in text)


def surname_reading(surname: str) -> tuple[str, ...] | None:
    """The table's syllables for `surname` (a compound or one character), or None.

    Traditional forms are looked up as their simplified equivalents.  A
    multi-character surname that is not a known compound is not resolved here
    (the caller reads it character by character).
    """
    key = _simplified(surname)
    if len(key) == 1:
        return SINGLE_SURNAMES.get(key)
    return COMPOUND_SURNAMES.get(key)


def compound_prefix(name: str) -> str:
    """The longest known compound surname that `name` starts with but is not all of.

    Returns the prefix as written in `name` (so traditional stays
    traditional), or "" when there is none.
    """
    if len(name) < 3:
        return ""  # a compound needs two characters and something left for the given name
    get = TRADITIONAL_TO_SIMPLIFIED.get
    if get(name[0], name[0]) + get(name[1], name[1]) not in _COMPOUND_HEADS:
        return ""
    simplified = _simplified(name[: _LONGEST_COMPOUND + 1])
    for length in range(min(_LONGEST_COMPOUND, len(name) - 1), 1, -1):
        if simplified[:length] in COMPOUND_SURNAMES:
            return name[:length]
    return ""
