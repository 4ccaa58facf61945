"""Every sentence the timeline can say about a person's future reaches the console in Chinese."""

from __future__ import annotations

import ast
from pathlib import Path

from lifecycle.web.i18n import translations
from lifecycle.web.phrases import event_words, standing_words

TIMELINE = Path(__file__).resolve().parent.parent / "policies" / "timeline.py"


def timeline_sentences() -> list[str]:
    """The event texts of policies/timeline.py, their placeholders filled as the policies fill them."""
    found = []
    for node in ast.walk(ast.parse(TIMELINE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Upcoming" and len(node.args) == 2:
            text = node.args[1]
            if isinstance(text, ast.Constant):
                found.append(str(text.value))
            elif isinstance(text, ast.JoinedStr):
                found.append("".join(str(v.value) if isinstance(v, ast.Constant) else {"retention": "90", "exempt": "on leave"}
                                     [ast.unparse(v.value)] for v in text.values))
    return found


def test_each_event_the_timeline_can_name_is_translated() -> None:
    zh = translations("zh-CN")
    sentences = timeline_sentences()
    assert len(sentences) == 9
    for sentence in sentences:
        words = event_words(sentence, zh)
        assert words != sentence and not words.isascii(), sentence
    assert event_words("account is deleted (90 days after suspension), unless rehired or held", zh) == "停用 90 天后删除账号，除非重新入职或被保留"
    assert event_words("never suspended for inactivity: on leave", zh).endswith("：on leave")
    assert event_words("something new", zh) == "something new"  # shown as it is
    en = translations("en")
    assert all(event_words(s, en) == s or "legal hold" in s for s in sentences)


def test_a_standing_is_translated_and_its_reason_kept() -> None:
    zh = translations("zh-CN")
    assert standing_words("departed: termination date 2027-01-15 reached (SZ/销售部)", zh) == \
        "已离职: termination date 2027-01-15 reached (SZ/销售部)"
    assert standing_words("unknown words", zh) == "unknown words"
