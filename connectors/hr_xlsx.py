"""The HR export as an Excel workbook (.xlsx): sheet -> header -> rows -> `HrSnapshot`.

`XlsxHrSource` is the `HrSource` port over such a file (`[hr] kind = "xlsx"`), for exports HR
systems hand out as workbooks (DingTalk 智能人事's 花名册, Beisen, a spreadsheet HR keeps).
Validation is the CSV's (`connectors.hr_snapshot`); this module opens the workbook, picks the
sheet, finds the header and hands over the rows.

- The sheet: `[hr] sheet` by name (default: the first worksheet).
- The header: `[hr] header_row`, else the first row (of the first 30) holding the required
  columns, so title rows above it ("智能人事花名册(导出时间:...)") are skipped.  A two-level header
  (a group label such as 基本信息 over sub-headers, the other columns' headers merged down over both
  rows) is read as one: a merged cell holds its value in its top-left cell only, so an empty header
  cell takes the value of the cell above it.  When the row below a header found this way maps every
  field the header maps, to the same columns (the cells above filling its gaps), it is the header's
  lower level (holding, say, 工作邮箱 under 联系方式) and the header moves down to it; a person's
  row never does, its values being no headers.
- Row numbers are the sheet's, as Excel and WPS show them.  Columns without a header are not read.
- Cells pass as they are: a date cell as a date, a number as a number (an id 100032.0 is
  "100032").  A number in a date column is an Excel date serial, accepted only with
  `[hr] excel_serial_dates = true`.  A number of 16 digits or more is passed as Excel shows it
  (1.23457E+17): Excel keeps 15 significant digits, so such an id has lost its last digits.
- Formulas are read as the value Excel last computed and saved with the file.  A file written by a
  program that does not compute formulas (openpyxl, some export jobs) holds none: the cell reads as
  empty, and a row missing a required value that way is rejected naming the field.

The feed as a whole is refused (`FeedError`) when the file is missing or unreadable, is not an
xlsx workbook (a CSV renamed .xlsx, a legacy .xls or a password-protected workbook, an .ods, a
damaged or cut-off file), has no such sheet, no header among the rows looked at (the message names
them, the closest row and the headers expected), no data row, or only rejected rows.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path

import structlog
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from connectors.hr_file import HrFileSource
from connectors.hr_records import cell_text
from connectors.hr_snapshot import RowsRead, build_snapshot
from connectors.hr_values import map_headers, normalize_text
from lifecycle.domain.errors import FeedError
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.models import HrSnapshot

__all__ = ["HEADER_SEARCH_ROWS", "XlsxHrSource", "read_hr_xlsx"]

log = structlog.get_logger(__name__)

HEADER_SEARCH_ROWS = 30
"""How far down the sheet the header is looked for when `[hr] header_row` is not set."""

_ZIP_SIGNATURE = b"PK\x03\x04"
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0"
_SAVE_AS_XLSX = 'open it in Excel or WPS and save it as "Excel Workbook (*.xlsx)"'
# What openpyxl and the libraries under it raise for a workbook they cannot read: not a ZIP archive, a
# part missing or cut off (KeyError, EOFError, zlib), XML that does not parse (SyntaxError: ElementTree's
# ParseError), a part that is not what the workbook says (ValueError, TypeError).
_UNREADABLE = (zipfile.BadZipFile, InvalidFileException, KeyError, EOFError, zlib.error, SyntaxError, ValueError,
               TypeError, OSError)
# Excel keeps 15 significant digits: a larger number in a cell has lost its last ones.
_EXACT_DIGITS_LIMIT = 1e15


class XlsxHrSource(HrFileSource):
    """The workbook named by `[hr] path`, as the cycle reads it (the `HrSource` port)."""

    def read(self, today: date) -> HrSnapshot:
        return read_hr_xlsx(self.settings, self.company_aliases, today=today)


def read_hr_xlsx(settings: HrSettings, company_aliases: Mapping[str, str], *, today: date | None = None) -> HrSnapshot:
    """Read and validate the sheet of the workbook named by `settings.path`.

    `today` (default: the local date) only serves to flag hire dates implausibly far in the
    future.  Raises `FeedError` when the workbook as a whole is unusable.
    """
    path = Path(settings.path)
    try:
        data = path.read_bytes()  # one read: what is parsed is what the fingerprint names
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FeedError(
            f"cannot read the HR file {path}: {reason}; fix: check [hr] path and that the lifecycle user may read the file"
        ) from exc
    _refuse_other_files(data, path)
    workbook = _open_workbook(data, path)
    try:
        sheet = _sheet(workbook, settings.sheet, path)
        where = f"{path} (sheet {sheet.title!r})"
        sheet.reset_dimensions()  # rows as stored: a wrong <dimension> would otherwise cut them short
        rows = _rows(sheet, where)
        try:
            header_rows, headers, buffered = _find_header(rows, settings, where)
        except FeedError as exc:
            raise FeedError(f"{exc}{_other_sheets(workbook, sheet, settings.sheet)}") from exc
        width = len(headers)
        body = _body(buffered, rows, width)
        details: dict[str, object] = {"sheet": sheet.title, "header_rows": header_rows}
        read = RowsRead(headers, body, where, header_rows[-1], None, hashlib.sha256(data).hexdigest(), details=details)
        return build_snapshot(read, settings, company_aliases, today or date.today())
    finally:
        workbook.close()


def _refuse_other_files(data: bytes, path: Path) -> None:
    """Tell the files most often found in place of the workbook apart before opening it."""
    if not data:
        raise FeedError(f"the HR file {path} is empty (0 bytes); fix: check the HR export job and run it again")
    if data.startswith(_OLE_SIGNATURE):
        raise FeedError(
            f"{path} is not an xlsx workbook: it is a legacy Excel 97-2003 (.xls) file, or a workbook protected by a "
            f"password (Excel stores those the same way); fix: {_SAVE_AS_XLSX}, without a password to open it"
        )
    if data.startswith(_ZIP_SIGNATURE):
        if b"opendocument.spreadsheet" in data[:100]:
            raise FeedError(f"{path} is not an xlsx workbook: it is an OpenDocument spreadsheet (.ods); fix: {_SAVE_AS_XLSX}")
        return
    if _looks_like_text(data[:4096]):
        raise FeedError(
            f'{path} is not an xlsx workbook: it is a text file (a CSV export?); fix: set [hr] kind = "csv" to read it '
            f"as CSV, or {_SAVE_AS_XLSX}"
        )
    raise FeedError(
        f"{path} is not an xlsx workbook (it does not begin as one does): the file is damaged or of another kind; "
        f"fix: run the HR export again, or {_SAVE_AS_XLSX}"
    )


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            sample.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:  # not just a character cut off at the end of the sample
                continue
        return True
    return False


def _open_workbook(data: bytes, path: Path) -> Workbook:
    # From memory rather than the path: openpyxl refuses a path whose name does not end in .xlsx (an
    # export named "花名册_20261201" is still a workbook), and the bytes are the ones fingerprinted.
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _UNREADABLE as exc:
        raise FeedError(_damaged(path, exc)) from exc


def _damaged(path: Path | str, exc: BaseException, where: str = "") -> str:
    cause = str(exc) or type(exc).__name__
    return (f"{path} cannot be read as an xlsx workbook{where}: the file is damaged or cut off ({cause}); "
            f"fix: run the HR export again (and check that it is not read while being written), or {_SAVE_AS_XLSX}")


def _sheet(workbook: Workbook, name: str, path: Path) -> ReadOnlyWorksheet:
    sheets = [s for s in workbook.worksheets if isinstance(s, ReadOnlyWorksheet)]  # chart sheets hold no rows
    shown = ", ".join(repr(s.title) for s in sheets) or "(none)"
    if not name:
        if not sheets:
            raise FeedError(f"{path} has no worksheet; fix: check the HR export job and run it again")
        return sheets[0]
    for sheet in sheets:
        if sheet.title == name:
            return sheet
    folded = [s for s in sheets if normalize_text(s.title).casefold() == normalize_text(name).casefold()]
    if len(folded) == 1:
        return folded[0]
    raise FeedError(
        f"{path} has no sheet named {name!r}; its sheets: {shown}; fix: set [hr] sheet to one of them "
        "(or remove it to read the first)"
    )


def _other_sheets(workbook: Workbook, read: ReadOnlyWorksheet, named: str) -> str:
    """When the first sheet was read by default: the others, one of which may hold the roster."""
    others = [s.title for s in workbook.worksheets if s is not read]
    if named or not others:
        return ""
    return f"; the workbook has other sheets ({', '.join(map(repr, others))}): name the roster's with [hr] sheet"


def _rows(sheet: ReadOnlyWorksheet, where: str) -> Iterator[tuple[int, Sequence[object]]]:
    """(sheet row number, cell values); a sheet that breaks off while read is refused."""
    values = iter(sheet.values)
    number = 0
    while True:
        try:
            cells = next(values)
        except StopIteration:
            return
        except _UNREADABLE as exc:
            raise FeedError(_damaged(where, exc, f" after row {number}")) from exc
        number += 1
        yield number, cells


def _find_header(
    rows: Iterator[tuple[int, Sequence[object]]], settings: HrSettings, where: str
) -> tuple[list[int], list[str], list[tuple[int, Sequence[object]]]]:
    """(the header's rows, its cells, the rows read past it).

    A header cell left empty takes the header of the cell above it (a merged cell holds its value
    in its top-left cell only), so each row is looked at as `_filled` under the rows above it.
    """
    explicit = settings.header_row
    limit = explicit if explicit is not None else HEADER_SEARCH_ROWS
    seen: list[tuple[int, Sequence[object], list[str]]] = []  # (row, cells, filled header texts)
    above: list[str] = []
    for number, cells in rows:
        above = _filled(cells, above)
        seen.append((number, cells, above))
        if number >= limit:
            break
    if not any(any(_texts(cells)) for _, cells, _ in seen):
        raise FeedError(f"{where} is empty (no header row, no data); fix: check the HR export job and run it again")
    if explicit is not None:
        return _named_header(seen, explicit, settings, where)

    for index, (number, _cells, headers) in enumerate(seen):
        mapped = _mapping(headers, settings)
        if mapped is None:
            continue
        header_rows = [number]
        # The lower levels of a multi-level header: with the cells above filling its gaps, the row maps every
        # field this one maps, to the same columns (a person's row does not: its values are no headers).
        while index + 1 < len(seen):
            lower_headers = seen[index + 1][2]
            lower_mapped = _mapping(lower_headers, settings)
            if lower_mapped is None or any(lower_mapped.get(field) != column for field, column in mapped.items()):
                break
            index += 1
            header_rows.append(seen[index][0])
            headers, mapped = lower_headers, lower_mapped
        return header_rows, _trimmed(headers), [(n, c) for n, c, _ in seen[index + 1 :]]

    looked = seen
    closest_row, _, closest = max(looked, key=lambda item: (len([t for t in _texts(item[1]) if t]), -item[0]))
    try:
        map_headers(closest, settings.columns)
        problem = "its headers do not map; fix: map them with [hr.columns]"  # not reached: it would be the header
    except FeedError as exc:
        problem = str(exc)
    raise FeedError(
        f"{where}: no header found in rows {looked[0][0]}-{looked[-1][0]} (no row holds the required columns, with "
        f"the cells of merged headers filled from the row above); the row that comes closest, row {closest_row}: "
        f"{problem}; or, if the header is further down, set [hr] header_row = <its row number>"
    )


def _named_header(
    seen: list[tuple[int, Sequence[object], list[str]]], header_row: int, settings: HrSettings, where: str
) -> tuple[list[int], list[str], list[tuple[int, Sequence[object]]]]:
    """The header at `[hr] header_row` (its empty cells filled from the rows above, as merged headers need)."""
    if len(seen) < header_row:
        raise FeedError(f"{where} has {len(seen)} row(s), but [hr] header_row = {header_row}; "
                        "fix: set [hr] header_row to the header's row number, or remove it to find the header")
    number, _, headers = seen[header_row - 1]
    try:
        map_headers(headers, settings.columns)
    except FeedError as exc:
        raise FeedError(f"{where}, row {number} ([hr] header_row = {header_row}): {exc}; or set [hr] header_row to "
                        "the header's row number (remove it to find the header)") from exc
    return [number], _trimmed(headers), [(n, c) for n, c, _ in seen[header_row:]]


def _texts(cells: Sequence[object]) -> list[str]:
    return [normalize_text(cell_text(c)) for c in cells]


def _filled(cells: Sequence[object], above: list[str]) -> list[str]:
    """The row's cells as header texts, an empty one taking the text of the cell above."""
    texts = _texts(cells)
    if len(texts) < len(above):
        texts += [""] * (len(above) - len(texts))
    return [text or (above[i] if i < len(above) else "") for i, text in enumerate(texts)]


def _mapping(headers: list[str], settings: HrSettings) -> dict[str, int] | None:
    try:
        return map_headers(headers, settings.columns)
    except FeedError:
        return None


def _trimmed(headers: list[str]) -> list[str]:
    """The header up to its last named column: a header row formatted to its end holds thousands of empty cells,
    which the rows must not be padded to."""
    width = len(headers)
    while width and not headers[width - 1]:
        width -= 1
    return headers[:width]


def _body(
    buffered: list[tuple[int, Sequence[object]]], rows: Iterator[tuple[int, Sequence[object]]], width: int
) -> Iterator[tuple[int, Sequence[object]]]:
    """The data rows, each cut or padded to the header's width (an empty cell is often not stored at all)."""
    for source in (iter(buffered), rows):
        for number, cells in source:
            row = [_value(c) for c in cells[:width]]
            if len(row) < width:
                row += [None] * (width - len(row))
            yield number, row


def _value(cell: object) -> object:
    """A cell's value for validation: a float too large for Excel to hold exactly as Excel shows it."""
    if isinstance(cell, float) and abs(cell) >= _EXACT_DIGITS_LIMIT:
        return f"{cell:.5E}"  # 1.23457E+17: rejected in an id column, with Excel's lost digits explained
    return cell
