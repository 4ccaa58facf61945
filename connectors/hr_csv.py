"""The HR export as a CSV file: bytes -> text -> rows -> `HrSnapshot`.

`CsvHrSource` is the `HrSource` port (lifecycle.domain.ports) over such a file.
Validation lives in `connectors.hr_records` and `hr_values` (shared with other HR sources);
this module only reads the file, finds its encoding and splits it into rows.

Row numbers are spreadsheet row numbers: the n-th CSV record is row n (the
header is row 1 when it is on the first line), blank lines included, so an
admin can open the file in Excel/WPS and find the row.  A record spanning
several physical lines (a quoted value with a line break) is one row.

The feed as a whole is refused (`FeedError`) when it cannot be trusted: the
file is missing or unreadable, is a spreadsheet (xlsx, xls) rather than CSV,
cannot be decoded or holds NUL bytes (a damaged file), has no header or
required columns (when another delimiter would split the header into them,
the message names it and the `[hr] delimiter` to set), has a header but no
data rows or only rejected ones (a broken export must not look like "everyone
left"), a double quote is left open so that the rest of the file would be
swallowed into one value, or a value is longer than the csv module allows.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path

import structlog
from charset_normalizer import from_bytes

from connectors.hr_file import HrFileSource
from connectors.hr_snapshot import RowsRead, build_snapshot
from connectors.hr_values import map_headers, normalize_text
from lifecycle.domain.errors import FeedError
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.models import HrSnapshot

__all__ = ["CsvHrSource", "decode_hr_bytes", "read_hr_csv"]

log = structlog.get_logger(__name__)

# What charset-normalizer may choose from when the file is not UTF-8; the
# GB family is read as gb18030, a superset of GB2312 and GBK.
_DETECTABLE = ["gb18030", "gbk", "big5", "utf_16"]
_AS_GB18030 = {"gb2312", "gbk", "gb18030", "cp936", "hz"}

# How the files most often dropped in place of the CSV export begin: an .xlsx (or .ods) workbook is
# a ZIP archive, a legacy .xls an OLE compound file.  Told apart before decoding, or a workbook
# would be reported as a text file in an unknown encoding.
_ZIP_SIGNATURE = b"PK\x03\x04"
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0"
_SAVE_AS_CSV = (
    'export it as CSV (UTF-8): in Excel or WPS, "Save As" the type "CSV UTF-8 (comma delimited) (*.csv)", '
    "or have the HR system's export job write CSV"
)
_READ_AS_XLSX = 'set [hr] kind = "xlsx" to read the workbook as it is, or ' + _SAVE_AS_CSV

# The delimiters [hr] delimiter allows, and how to write each in the config and name it to a person.
_DELIMITERS = {",": ('","', "commas"), ";": ('";"', "semicolons"), "\t": ('"\\t"', "tabs"), "|": ('"|"', "vertical bars")}


class CsvHrSource(HrFileSource):
    """The HR export file named by `[hr] path`, as the cycle reads it (the `HrSource` port)."""

    def read(self, today: date) -> HrSnapshot:
        return read_hr_csv(self.settings, self.company_aliases, today=today)


def read_hr_csv(settings: HrSettings, company_aliases: Mapping[str, str], *, today: date | None = None) -> HrSnapshot:
    """Read, decode and validate the HR CSV export named by `settings.path`.

    `company_aliases` maps company codes and names to codes.  `today`
    (default: the local date) only serves to flag hire dates implausibly far
    in the future.  Raises `FeedError` when the file as a whole is unusable.
    """
    path = Path(settings.path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FeedError(
            f"cannot read the HR file {path}: {reason}; fix: check [hr] path and that the lifecycle user may read the file"
        ) from exc
    fingerprint = hashlib.sha256(data).hexdigest()
    _refuse_spreadsheet(data, path)
    text, encoding = decode_hr_bytes(data, settings.encoding, path)
    del data  # the text is all that is needed from here on

    rows = _records(text, settings.delimiter, path)
    header_row, headers = _header(rows, path)
    _map_headers(headers, header_row, settings, path)  # a header that does not map: is it the delimiter?
    width = len(headers)
    # Rows are validated as they are parsed: only the records are kept, not every row's cells.
    body = _Last(_checked(rows, width, settings.delimiter, path))
    read = RowsRead(headers, body, str(path), header_row, width, fingerprint, details={"encoding": encoding})
    snapshot = build_snapshot(read, settings, company_aliases, today or date.today())
    last_row, last_cells = body.last
    # Without a final line break the last row may be cut off: short (rejected), or cut inside its
    # last value, which can still parse ("2027-01-15" cut to "2027-01-1" is a date).  A closing
    # quote means the last value is complete.  Checked on the text, so UTF-16 files work too.
    tail = text.rstrip(" \t")
    cut_in_value = bool(last_cells) and bool(normalize_text(last_cells[-1])) and not tail.endswith('"')
    truncated = not tail.endswith(("\n", "\r")) and (cut_in_value or any(r.row == last_row for r in snapshot.rejected))
    return replace(snapshot, truncated=truncated) if truncated else snapshot


def _refuse_spreadsheet(data: bytes, path: Path) -> None:
    if data.startswith(_ZIP_SIGNATURE):
        kind = "ods" if b"opendocument.spreadsheet" in data[:100] else "xlsx"
        fix = _READ_AS_XLSX if kind == "xlsx" else _SAVE_AS_CSV
        raise FeedError(f"{path} is not a CSV file: this is a spreadsheet ({kind}); fix: {fix}")
    if data.startswith(_OLE_SIGNATURE):
        raise FeedError(f"{path} is not a CSV file: this is a spreadsheet (xls, Excel 97-2003); fix: save it as .xlsx "
                        f'and set [hr] kind = "xlsx", or {_SAVE_AS_CSV}')


def _map_headers(headers: list[str], header_row: int, settings: HrSettings, path: Path) -> dict[str, int]:
    """`map_headers`; when the header lacks required columns, tell whether the file seems to use another delimiter.

    It does when another delimiter splits the header into the required columns, or at least
    into three columns and twice as many as the configured one.
    """
    try:
        return map_headers(headers, settings.columns)
    except FeedError as exc:
        configured = settings.delimiter
        line = configured.join(headers)  # the header line, near enough to split again
        splits = {d: next(csv.reader([line], delimiter=d)) for d in _DELIMITERS if d != configured and d in line}
        fitting = [d for d, cells in splits.items() if _maps(cells, settings.columns)]
        widest = max(splits, key=lambda d: len(splits[d]), default=None)
        if fitting:
            seems = fitting[0]
        elif widest is not None and len(splits[widest]) >= max(3, 2 * len(headers)):
            seems = widest
        else:
            raise
        setting, name = _DELIMITERS[seems]
        current_setting, current_name = _DELIMITERS[configured]
        found = "splits into the required columns" if fitting else f"splits into {len(splits[seems])} columns"
        raise FeedError(
            f"the header of {path} (row {header_row}) does not split into the required columns with the configured "
            f"delimiter ({current_name}, [hr] delimiter = {current_setting}); with {name} it {found}: the file seems to "
            f"use {name}; fix: set [hr] delimiter = {setting} in the config, or export the file with {current_name}"
        ) from exc


def _maps(headers: list[str], columns: Mapping[str, str]) -> bool:
    try:
        map_headers(headers, columns)
    except FeedError:
        return False
    return True


def decode_hr_bytes(data: bytes, encoding: str, path: Path | str = "HR file") -> tuple[str, str]:
    """Decode the file's bytes; return (text, encoding used).

    "auto": a UTF-8 BOM means utf-8-sig, a UTF-16 BOM utf-16; valid UTF-8 is
    utf-8; anything else is charset-normalizer's best guess among gb18030,
    big5 and utf-16.  A pinned encoding that does not fit raises `FeedError`
    naming the byte offset and line.  NUL bytes left after decoding mean a
    damaged file (a crash leaves zero-filled blocks): `FeedError`, since rows
    inside such a block are lost without a trace.
    """
    text, used = _decode_auto(data, path) if encoding == "auto" else (_decode(data, encoding, path, pinned=True), encoding)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise FeedError(
            f"{path} contains NUL bytes (the first on line {line}): the file is damaged, or UTF-16 without a byte "
            "order mark; fix: run the HR export again (as UTF-8) and check the disk it is written to"
        )
    return text, used


def _decode_auto(data: bytes, path: Path | str) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data, "utf-8-sig", path, pinned=False), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data, "utf-16", path, pinned=False), "utf-16"
    text: str | None = None
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if "\x00" not in decoded:  # NULs: probably UTF-16 without a BOM
            return decoded, "utf-8"
        text = decoded
    best = from_bytes(data, cp_isolation=_DETECTABLE).best()
    if best is None or best.encoding is None:
        if text is not None:
            return text, "utf-8"  # UTF-8 apart from its NUL bytes: reported as a damaged file
        raise FeedError(
            f"cannot tell the character encoding of {path}: it is neither UTF-8 nor GB18030/GBK, Big5 or UTF-16; "
            "fix: save the export as UTF-8 (CSV UTF-8 in Excel), or set [hr] encoding if you know it"
        )
    guessed = best.encoding.lower().replace("_", "-")
    if guessed.replace("-", "") in _AS_GB18030:
        guessed = "gb18030"
    return _decode(data, guessed, path, pinned=False), guessed


def _decode(data: bytes, encoding: str, path: Path | str, *, pinned: bool) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start : exc.start + 4].hex(" ")
        how = f"[hr] encoding is set to {encoding!r}" if pinned else f"the file looks like {encoding}"
        if encoding.startswith("utf-8"):
            fix = 'set [hr] encoding = "gb18030" (Excel on Chinese Windows saves CSV that way) or "auto"'
        else:
            fix = 'set [hr] encoding = "auto" or "utf-8", or save the export as UTF-8'
        raise FeedError(
            f"cannot decode {path}: {how}, but the bytes at offset {exc.start} (line {line}: {bad}) are not valid {encoding}; fix: {fix}"
        ) from exc


def _records(text: str, delimiter: str, path: Path) -> Iterator[tuple[int, int, int, list[str]]]:
    """CSV records as (spreadsheet row, first physical line, last physical line, cells)."""
    reader = csv.reader(_lines(text), delimiter=delimiter)
    row = 0
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise FeedError(
                    f"{path} line {start} (row {row + 1}): a value there is longer than {csv.field_size_limit():,} "
                    "characters: the file is probably not a CSV export (a spreadsheet or another file saved under its "
                    "name), or a double quote on that line opens a value that never closes; fix: check that the HR "
                    "export job writes CSV, and the quoting of that line"
                ) from exc
            raise FeedError(
                f"{path} line {start}: the CSV cannot be parsed ({exc}); "
                "fix: check the quoting of that line (a value containing a double quote must be quoted, with the quote doubled)"
            ) from exc
        row += 1
        yield row, start, reader.line_num, cells


# A line as io.StringIO(text, newline="") yields it: up to and including "\n", "\r\n" or a lone "\r".
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` for the csv module, made one at a time.

    The same lines as iterating ``io.StringIO(text, newline="")``, without its
    copy of the whole file (four bytes per character).
    """
    for match in _LINE.finditer(text):
        yield match.group()


def _header(rows: Iterator[tuple[int, int, int, list[str]]], path: Path) -> tuple[int, list[str]]:
    for row, _start, _end, cells in rows:
        if not any(normalize_text(c) for c in cells):
            continue
        if len(cells) <= 2 and normalize_text(cells[0]).lower().startswith("sep=") and not "".join(cells[1:]).strip():
            continue  # Excel's "sep=," hint line
        return row, cells
    raise FeedError(f"the HR file {path} is empty (no header row); fix: check the HR export job and run it again")


def _checked(
    rows: Iterator[tuple[int, int, int, list[str]]], width: int, delimiter: str, path: Path
) -> Iterator[tuple[int, list[str]]]:
    """Yield (row, cells); refuse the file when a quote swallowed what follows it.

    An opening double quote without its closing quote makes the csv module
    read the rest of the file as one value: the employees after it would
    silently vanish.  A record spanning several lines is accepted only if it
    has the header's number of cells and no line break inside a value is
    followed by the delimiter (which real multi-line values do not have).
    """
    for row, start, end, cells in rows:
        if end > start:
            broken = [c for c in cells if "\n" in c or "\r" in c]
            swallowed = any(delimiter in _after_line_break(c) for c in broken)
            if broken and (swallowed or len(cells) != width):
                raise FeedError(
                    f"{path} line {start} (row {row}): a double-quoted value starts here and runs over {end - start + 1} lines, "
                    "taking the following rows with it; fix: close or remove the stray double quote on that line "
                    "(a value containing a double quote must be quoted, with the quote doubled)"
                )
        yield row, cells


class _Last:
    """Iterate over (row, cells) pairs, remembering the last one (``(0, [])`` before any)."""

    __slots__ = ("_rows", "last")

    def __init__(self, rows: Iterator[tuple[int, list[str]]]) -> None:
        self._rows = rows
        self.last: tuple[int, list[str]] = (0, [])

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        for item in self._rows:
            self.last = item
            yield item


def _after_line_break(value: str) -> str:
    breaks = [i for i in (value.find("\n"), value.find("\r")) if i >= 0]
    return value[min(breaks) :] if breaks else ""
