"""The joiners' names are read before the big inputs, and pypinyin is let go afterwards."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from lifecycle.domain.models import HrStatus, PersonState, PersonStatus, StoredState
from lifecycle.engine import tuning
from policies import naming
from tests.harness import hr, make_settings, person


@pytest.fixture
def cold_caches():
    naming._reading.cache_clear()
    naming._has_reading.cache_clear()
    yield
    naming._reading.cache_clear()
    naming._has_reading.cache_clear()


def test_likely_joiners_are_the_people_without_an_account_on_record(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, naming={"overrides": {"5": "special"}})
    snapshot = hr(
        person("1", "李娜"),  # has an account
        person("2", "王芳"),  # new
        person("3", "张伟"),  # account deleted: a rehire gets a new one
        person("4", "赵敏", status=HrStatus.TERMINATED, left=date(2025, 1, 1)),  # gone, no account
        person("5", "钱多多"),  # named by the override, not by pinyin
        person("6", "孙丽", status=HrStatus.LEAVE),  # on leave without an account yet
    )
    state = StoredState((PersonState("1", "lina", "HQ"), PersonState("3", "zhangwei", "HQ", status=PersonStatus.DELETED)))
    assert [r.employee_id for r in tuning.likely_joiners(snapshot, state, settings)] == ["2", "3", "6"]


def test_names_read_ahead_need_no_pypinyin_afterwards(tmp_path: Path, cold_caches) -> None:
    settings = make_settings(tmp_path)
    expected = naming.propose_local_part("欧阳娜娜", "", "{pinyin}", "v", 32), naming.propose_local_part("吕长乐", "", "{pinyin}", "v", 32)
    naming._reading.cache_clear()
    naming._has_reading.cache_clear()
    assert "pypinyin" in sys.modules

    read = tuning.read_names_ahead([person("1", "欧阳娜娜"), person("2", "吕长乐"), person("3", "吕长乐")], settings)
    assert read == 2 and not [m for m in sys.modules if m.startswith("pypinyin")]
    again = naming.propose_local_part("欧阳娜娜", "", "{pinyin}", "v", 32), naming.propose_local_part("吕长乐", "", "{pinyin}", "v", 32)
    assert again == expected == ("ouyangnana", "lvchangle")
    assert "pypinyin" not in sys.modules  # answered from the cache

    # A name nobody foresaw is read as before: pypinyin comes back.
    assert naming.propose_local_part("王芳", "", "{pinyin}", "v", 32) == "wangfang"
    assert "pypinyin" in sys.modules


def test_pypinyin_stays_when_the_readings_outgrow_the_caches(tmp_path: Path, cold_caches, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    naming.propose_local_part("王芳", "", "{pinyin}", "v", 32)
    assert tuning.read_names_ahead([], settings) == 0 and "pypinyin" in sys.modules
    monkeypatch.setattr(tuning, "readings_cache_full", lambda: True)
    many = [person("1", "欧阳娜娜"), person("2", "吕长乐"), person("3", "李娜")]
    assert tuning.read_names_ahead(many, settings) == 3 and "pypinyin" in sys.modules


def test_the_reading_caches_report_when_they_are_full(cold_caches) -> None:
    assert not naming.readings_cache_full()
    for code in range(0x4E00, 0x4E00 + naming._has_reading.cache_info().maxsize):
        naming._has_reading(chr(code))
    assert naming.readings_cache_full()
