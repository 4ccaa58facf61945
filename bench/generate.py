"""Deterministic group-scale test data: HR export, matching LDIF, config.

    python -m bench.generate --size 100000 --seed 6 --out bench/out/100000-6

Writes into --out:
  employees.csv   the HR export (canonical headers)
  directory.ldif  the people and department groups the daemon itself would have
                  created for that export (rendered from `compute_plan` against an
                  empty directory, so the uids follow the engine's own naming and
                  collision numbering in hire order); load it with `slapadd -q`
  config.toml     12 companies (url/password filled in by bench.run per slapd)
  meta.json       seed, size, counts, name-collision rates, timings

Everything depends only on (seed, size): the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BASE_DN = "dc=example,dc=com"
GROUPS_DN = f"ou=groups,{BASE_DN}"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the benchmark's "today"
HEADERS = ("employee_id", "name", "family_name", "english_name", "company", "department", "title", "manager_id",
           "status", "hire_date", "termination_date")

# code, name, domain, ou, relative size
COMPANIES = (
    ("HQ", "集团总部", "example.com", "hq", 14),
    ("BJ", "北京分公司", "bj.example.com", "bj", 11),
    ("SH", "上海分公司", "sh.example.com", "sh", 11),
    ("GZ", "广州分公司", "gz.example.com", "gz", 10),
    ("SZ", "深圳分公司", "sz.example.com", "sz", 10),
    ("HZ", "杭州分公司", "hz.example.com", "hz", 8),
    ("NJ", "南京分公司", "nj.example.com", "nj", 7),
    ("WH", "武汉分公司", "wh.example.com", "wh", 7),
    ("CD", "成都分公司", "cd.example.com", "cd", 7),
    ("XA", "西安分公司", "xa.example.com", "xa", 5),
    ("TJ", "天津分公司", "tj.example.com", "tj", 5),
    ("CQ", "重庆分公司", "cq.example.com", "cq", 5),
)

# Top ~100 surnames with their approximate share of the population in percent
# (the 2006 CAS survey / 2019-2020 Ministry of Public Security rankings, rounded).
SURNAMES = (
    ("王", 7.12), ("李", 7.19), ("张", 6.76), ("刘", 5.38), ("陈", 4.53), ("杨", 3.08), ("黄", 2.23), ("赵", 2.29),
    ("吴", 2.05), ("周", 2.12), ("徐", 1.67), ("孙", 1.54), ("马", 1.44), ("朱", 1.32), ("胡", 1.31), ("郭", 1.15),
    ("何", 1.17), ("高", 1.08), ("林", 1.18), ("罗", 0.86), ("郑", 0.78), ("梁", 0.85), ("谢", 0.72), ("宋", 0.81),
    ("唐", 0.65), ("许", 0.54), ("韩", 0.68), ("冯", 0.64), ("邓", 0.54), ("曹", 0.58), ("彭", 0.49), ("曾", 0.50),
    ("肖", 0.48), ("田", 0.32), ("董", 0.61), ("袁", 0.55), ("潘", 0.36), ("于", 0.62), ("蒋", 0.45), ("蔡", 0.44),
    ("余", 0.37), ("杜", 0.35), ("叶", 0.39), ("程", 0.59), ("苏", 0.46), ("魏", 0.40), ("吕", 0.47), ("丁", 0.41),
    ("任", 0.31), ("沈", 0.50), ("姚", 0.27), ("卢", 0.46), ("姜", 0.30), ("崔", 0.22), ("钟", 0.33), ("谭", 0.27),
    ("陆", 0.24), ("汪", 0.32), ("范", 0.30), ("金", 0.25), ("石", 0.28), ("廖", 0.26), ("贾", 0.41), ("夏", 0.33),
    ("韦", 0.24), ("付", 0.23), ("方", 0.29), ("白", 0.23), ("邹", 0.26), ("孟", 0.18), ("熊", 0.25), ("秦", 0.21),
    ("邱", 0.21), ("江", 0.20), ("尹", 0.15), ("薛", 0.40), ("闫", 0.20), ("段", 0.17), ("雷", 0.16), ("侯", 0.19),
    ("龙", 0.18), ("史", 0.20), ("陶", 0.15), ("黎", 0.15), ("贺", 0.14), ("顾", 0.19), ("毛", 0.22), ("郝", 0.24),
    ("龚", 0.13), ("邵", 0.18), ("万", 0.17), ("钱", 0.16), ("严", 0.15), ("覃", 0.12), ("武", 0.14), ("戴", 0.34),
    ("莫", 0.12), ("孔", 0.23), ("向", 0.11), ("汤", 0.16), ("常", 0.14), ("易", 0.15), ("乔", 0.14), ("赖", 0.13),
    ("文", 0.13), ("萧", 0.08), ("俞", 0.09), ("欧阳", 0.05), ("司马", 0.01), ("上官", 0.01), ("诸葛", 0.01),
)
COMPOUND = {"欧阳", "司马", "上官", "诸葛"}

# Given-name characters, most popular first (weights fall off as 1/rank**0.8).
GIVEN_ONE = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "辉", "鹏", "华", "飞", "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "欢", "阳", "建", "亮", "成", "佳", "琳", "颖", "倩", "婷", "雪", "慧", "莹", "晶", "玲", "燕", "红", "梅", "兰", "英", "萍", "蕾", "薇", "洁", "琴", "云", "峰", "毅", "瑞", "昊", "博", "睿", "哲", "轩", "然", "晨", "悦", "思", "雨", "欣", "怡", "诗", "婧", "璐", "瑶", "露", "丹", "彤", "晓", "文", "志", "海", "东", "国", "永", "德", "春", "立", "松", "荣", "新", "光", "天", "子", "嘉", "家", "俊", "一", "振", "金", "淑"]
GIVEN_FIRST = ["志", "建", "晓", "俊", "文", "明", "国", "海", "家", "嘉", "子", "雨", "欣", "思", "佳", "梓", "宇", "浩", "一", "天", "永", "春", "秀", "桂", "丽", "玉", "美", "红", "小", "金", "亚", "雪", "晨", "诗", "若", "可", "紫", "梦", "婉", "雅", "静", "慧", "晶", "宏", "伟", "振", "德", "立", "世", "云", "鹏", "博", "泽", "睿", "子", "俊", "雅", "新", "少", "长", "光", "学", "成", "兴", "凤", "艳", "淑", "丹", "彩", "冬", "秋", "慧", "瑞", "安"]
GIVEN_SECOND = ["伟", "华", "明", "强", "军", "平", "辉", "杰", "峰", "涛", "斌", "龙", "飞", "林", "波", "刚", "东", "勇", "鹏", "宇", "浩", "轩", "然", "睿", "泽", "涵", "萱", "怡", "琪", "婷", "娟", "敏", "静", "丽", "芳", "霞", "燕", "红", "英", "梅", "兰", "琳", "颖", "倩", "雪", "莹", "洁", "玲", "蓉", "萍", "彤", "悦", "妍", "晨", "阳", "凯", "磊", "超", "亮", "成", "新", "文", "国", "荣", "生", "祥", "瑶", "欣", "蕊", "航", "铭", "博", "豪", "哲", "宁", "安", "远", "宏", "义", "辰", "逸", "诚", "俊", "毅", "晴", "菲", "薇", "露", "媛", "岚"]
ONE_CHAR_SHARE = 0.10
# Flatness of the given-name character popularity (weight 1/rank**GIVEN_EXPONENT).  Calibrated so
# that at 100k about 38% of people get a numbered uid (zhangwei2...): v1 used 0.8 / 0.18 (53%).
GIVEN_EXPONENT = 0.35
GENERATOR_VERSION = 3  # 3: groups created with all their members (member order = DN order)

DEPARTMENTS = (
    ("总经办", ("总经理", "总经理助理", "秘书")),
    ("研发部", ("研发总监", "技术经理", "高级工程师", "工程师", "测试工程师", "架构师")),
    ("产品部", ("产品总监", "产品经理", "产品专员", "设计师")),
    ("销售部", ("销售总监", "销售经理", "客户经理", "销售代表")),
    ("市场部", ("市场总监", "市场经理", "市场专员", "品牌专员")),
    ("财务部", ("财务总监", "财务经理", "会计", "出纳")),
    ("人力资源部", ("人力资源总监", "人事经理", "招聘专员", "薪酬专员")),
    ("行政部", ("行政经理", "行政专员", "前台")),
    ("法务部", ("法务总监", "法务专员")),
    ("采购部", ("采购经理", "采购专员")),
    ("生产部", ("生产总监", "车间主任", "班组长", "操作工", "技术员")),
    ("质量部", ("质量经理", "质检员", "质量工程师")),
    ("客服部", ("客服经理", "客服主管", "客服专员")),
    ("物流部", ("物流经理", "仓管员", "调度员")),
    ("信息技术部", ("IT经理", "系统管理员", "运维工程师")),
    ("运营部", ("运营总监", "运营经理", "运营专员")),
)
TEAM_SIZE = 12  # staff per team lead


@dataclass
class Person:
    employee_id: str
    name: str
    family_name: str
    company: str
    department: str
    title: str
    manager_id: str
    status: str
    hire_date: date
    termination_date: date | None = None

    def row(self) -> list[str]:
        return [self.employee_id, self.name, self.family_name if self.family_name in COMPOUND else "", "", self.company,
                self.department, self.title, self.manager_id, self.status, self.hire_date.isoformat(),
                self.termination_date.isoformat() if self.termination_date else ""]


def _weights(n: int, exponent: float = 0.8) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(n)]


class NameMaker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.surnames = [s for s, _ in SURNAMES]
        self.surname_w = [w for _, w in SURNAMES]
        self.one_w = _weights(len(GIVEN_ONE), GIVEN_EXPONENT)
        self.first_w = _weights(len(GIVEN_FIRST), GIVEN_EXPONENT)
        self.second_w = _weights(len(GIVEN_SECOND), GIVEN_EXPONENT)

    def make(self) -> tuple[str, str]:
        rng = self.rng
        surname = rng.choices(self.surnames, self.surname_w)[0]
        if rng.random() < ONE_CHAR_SHARE:
            given = rng.choices(GIVEN_ONE, self.one_w)[0]
        else:
            given = rng.choices(GIVEN_FIRST, self.first_w)[0] + rng.choices(GIVEN_SECOND, self.second_w)[0]
        return surname + given, surname


def _date_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def generate_people(size: int, seed: int) -> list[Person]:
    """`size` HR rows: per company a tree CEO -> department heads -> team leads -> staff."""
    rng = random.Random(seed)
    names = NameMaker(rng)
    today = NOW.date()
    total_weight = sum(c[4] for c in COMPANIES)
    counts = [size * c[4] // total_weight for c in COMPANIES]
    counts[0] += size - sum(counts)
    people: list[Person] = []
    next_id = 100001

    def new(company: str, department: str, title: str, manager: str, senior: bool) -> Person:
        nonlocal next_id
        name, surname = names.make()
        hire = _date_between(rng, date(2005, 1, 1) if senior else date(2012, 1, 1), today - timedelta(days=1))
        person = Person(str(next_id), name, surname, company, department, title, manager, "在职", hire)
        next_id += 1
        people.append(person)
        return person

    for (code, *_), count in zip(COMPANIES, counts, strict=True):
        ceo = new(code, "总经办", "总经理", "", True)
        remaining = count - 1
        departments = DEPARTMENTS[: max(3, min(len(DEPARTMENTS), 4 + count // 800))]
        heads = {d: new(code, d, titles[0], ceo.employee_id, True) for d, titles in departments}
        remaining -= len(heads)
        # Staff spread over departments (bigger ones first), a team lead per TEAM_SIZE staff.
        dept_w = _weights(len(departments), 0.5)
        leads: dict[str, list[Person]] = {d: [] for d, _ in departments}
        staffed: dict[str, int] = Counter()
        while remaining > 0:
            dept, titles = rng.choices(departments, dept_w)[0]
            if staffed[dept] % TEAM_SIZE == 0:
                lead_title = titles[1] if len(titles) > 2 else titles[-1]
                leads[dept].append(new(code, dept, lead_title, heads[dept].employee_id, True))
            else:
                lead = leads[dept][-1]
                new(code, dept, rng.choice(titles[2:] or titles[1:]), lead.employee_id, False)
            staffed[dept] += 1
            remaining -= 1

    managers = {p.manager_id for p in people if p.manager_id}
    for person in people:
        if person.employee_id in managers:
            continue  # managers stay active: a departed manager is its own scenario
        roll = rng.random()
        if roll < 0.02:
            person.status = "休假"
        elif roll < 0.035:  # left in the past: no account is created for them
            person.status = "离职"
            person.termination_date = _date_between(rng, max(person.hire_date, today - timedelta(days=700)), today - timedelta(days=1))
        elif roll < 0.045:  # leaving in the future: still active today
            person.termination_date = _date_between(rng, today + timedelta(days=30), today + timedelta(days=400))
    return people


def write_hr(people: list[Person], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADERS)
    for person in people:
        writer.writerow(person.row())
    path.write_text(buffer.getvalue(), encoding="utf-8")


def config_text(*, url: str, bind_dn: str, password_file: Path, hr_path: Path, state_url: str, credentials: Path) -> str:
    """The bench config: 12 companies; guards opened wide enough for scenario B at 200k (documented)."""
    companies = "\n".join(
        f'[[companies]]\ncode = "{code}"\nname = "{name}"\ndomain = "{domain}"\npeople_dn = "ou={ou},ou=people,{BASE_DN}"\n'
        for code, name, domain, ou, _ in COMPANIES
    )
    return f"""# Written by bench: a throwaway directory on {url}
[state]
url = "{state_url}"

[hr]
path = "{hr_path}"

[directory]
url = "{url}"
bind_dn = "{bind_dn}"
bind_password_file = "{password_file}"
base_dn = "{BASE_DN}"
groups_dn = "{GROUPS_DN}"
# Writes over 4 connections, every action on one entry on the same one (the default is 1).
write_connections = 4

[policy]
timezone = "Asia/Shanghai"
retention_days = 90

[accounts]
initial_password_dir = "{credentials}"

[guards]
min_file_age_seconds = 0
# Scenario B suspends 0.25% of the people; at 200k that can exceed the default 50 per company.
max_destructive = 100000

{companies}"""


def organizational_units() -> list[str]:
    return [f"ou=people,{BASE_DN}", *(f"ou={ou},ou=people,{BASE_DN}" for *_, ou, _ in COMPANIES), GROUPS_DN]


def _ldif_line(attribute: str, value: str) -> str:
    safe = value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<")) and not value.endswith(" ")
    if safe:
        return f"{attribute}: {value}"
    return f"{attribute}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"


def render_ldif(plan) -> tuple[str, Counter]:
    """LDIF of the plan's create_account / create_group / add_member actions (what apply would write)."""
    from connectors.ldap import PERSON_CLASSES, hash_password
    from lifecycle.domain.action_params import MemberParams, NewAccountParams, NewGroupParams
    from lifecycle.domain.models import ActionKind

    # One hash for everybody keeps generation fast; the daemon would seal a random one per person.
    password = hash_password("Bench-Initial-Password-1")
    people: list[str] = []
    groups: dict[str, dict] = {}
    kinds: Counter = Counter()
    for action in plan.actions:
        kinds[action.kind.value] += 1
        p = action.params
        if isinstance(p, NewAccountParams):
            lines = [_ldif_line("dn", p.dn)] + [f"objectClass: {c}" for c in PERSON_CLASSES]
            lines += [_ldif_line(k, v) for k, v in p.attributes.to_dict().items() if v]
            lines += [f"userPassword: {password}", "pwdReset: TRUE"]
            people.append("\n".join(lines))
        elif isinstance(p, NewGroupParams):
            members = list(p.members or [p.first_member])  # a new group is created with all its members
            groups[p.dn] = {"company": p.company, "department": p.department, "members": members}
        elif isinstance(p, MemberParams) and action.kind == ActionKind.ADD_MEMBER:
            groups[p.group_dn]["members"].append(p.member_dn)
    blocks = people
    for dn, group in groups.items():
        rdn_value = dn.split(",", 1)[0].split("=", 1)[1]
        lines = [_ldif_line("dn", dn), "objectClass: top", "objectClass: groupOfNames", _ldif_line("cn", rdn_value),
                 "businessCategory: lifecycle", _ldif_line("o", group["company"]), _ldif_line("ou", group["department"])]
        lines += [_ldif_line("member", m) for m in group["members"]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n", kinds


def collision_rates(people: list[Person]) -> dict[str, float]:
    """Full-pinyin collisions measured with the project's own naming rule."""
    from policies.naming import NamingProblem, propose_local_part

    bases: Counter = Counter()
    problems = 0
    for person in people:
        base = propose_local_part(person.name, person.family_name if person.family_name in COMPOUND else "", "{pinyin}", "v", 32)
        if isinstance(base, NamingProblem):
            problems += 1
            continue
        bases[base] += 1
    n = sum(bases.values())
    shared = sum(c for c in bases.values() if c > 1)
    return {
        "people": n,
        "distinct_bases": len(bases),
        "share_in_colliding_names": round(shared / n, 4),  # people whose pinyin someone else also has
        "share_numbered": round((n - len(bases)) / n, 4),  # people who get zhangwei2, 3, ... (all but the first)
        "largest_group": bases.most_common(1)[0][1] if bases else 0,
        "largest_name": bases.most_common(1)[0][0] if bases else "",
        "naming_problems": problems,
    }


def settings_for(out: Path):
    from lifecycle.domain.settings import Settings

    data = {
        "state": {"url": f"sqlite:///{out}/unused.db"},
        "hr": {"path": str(out / "employees.csv")},
        "directory": {"bind_password": "unused", "base_dn": BASE_DN, "groups_dn": GROUPS_DN},
        "accounts": {"initial_password_dir": str(out / "credentials")},
        "guards": {"min_file_age_seconds": 0, "max_destructive": 100000},
        "companies": [{"code": c, "name": n, "domain": d, "people_dn": f"ou={ou},ou=people,{BASE_DN}"} for c, n, d, ou, _ in COMPANIES],
    }
    return Settings(**data)


def generate(size: int, seed: int, out: Path) -> dict:
    from connectors.hr_csv import read_hr_csv
    from lifecycle.domain.models import DirectorySnapshot, StoredState
    from lifecycle.engine.cycle import company_aliases
    from policies.engine import compute_plan

    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    people = generate_people(size, seed)
    write_hr(people, out / "employees.csv")
    timings["people_and_csv"] = time.perf_counter() - t
    t = time.perf_counter()
    collisions = collision_rates(people)
    timings["collision_rates"] = time.perf_counter() - t

    settings = settings_for(out)
    t = time.perf_counter()
    hr = read_hr_csv(settings.hr, company_aliases(settings), today=NOW.date())
    timings["read_hr"] = time.perf_counter() - t
    t = time.perf_counter()
    plan = compute_plan(hr, DirectorySnapshot(entries=(), groups=(), taken_uids=frozenset()), StoredState(), settings, NOW)
    timings["plan_initial_load"] = time.perf_counter() - t
    t = time.perf_counter()
    ldif, kinds = render_ldif(plan)
    (out / "directory.ldif").write_text(ldif, encoding="utf-8")
    timings["render_ldif"] = time.perf_counter() - t
    (out / "config.toml").write_text(
        config_text(url="ldap://127.0.0.1:389", bind_dn=f"cn=admin,{BASE_DN}", password_file=out / "ldap-password",
                    hr_path=out / "employees.csv", state_url=f"sqlite:///{out}/state.db", credentials=out / "credentials"),
        encoding="utf-8",
    )
    statuses = Counter(p.status for p in people)
    meta = {
        "size": size, "seed": seed, "generator_version": GENERATOR_VERSION, "now": NOW.isoformat(), "companies": len(COMPANIES),
        "hr_rows": len(people), "hr_rejected": len(hr.rejected), "statuses": dict(statuses),
        "future_leavers": sum(1 for p in people if p.status == "在职" and p.termination_date),
        "departments": len({(p.company, p.department) for p in people}),
        "collisions": collisions, "plan_actions": dict(kinds), "reviews": len(plan.reviews), "held": len(plan.held),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    out = (args.out or Path(__file__).resolve().parent / "out" / f"{args.size}-{args.seed}-v{GENERATOR_VERSION}").resolve()
    meta = generate(args.size, args.seed, out)
    print(json.dumps(meta, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
