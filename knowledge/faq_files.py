"""FAQ files: the rows of an import file (.jsonl, .json, .csv, .xlsx), each with its row in
the file, and the export formats. What the rows mean is `knowledge.services.faq_import`'s."""

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import openpyxl

FAQ_COLUMNS = ("faq_id", "question", "answer", "alt_questions", "tags", "language", "enabled")
IMPORT_MAX_ROWS = 50_000


@dataclass(frozen=True)
class RowError:
    row: int  # the file's own line (JSONL) or row (CSV, XLSX; the header is row 1); 0: file
    message: str


def faq_rows_from_file(name: str, data: bytes) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Rows of an FAQ file (.jsonl, .json, .csv, .xlsx), each with its file row in "_row",
    and the rows that could not even be read."""
    readers = {".jsonl": _rows_jsonl, ".json": _rows_json, ".csv": _rows_csv, ".xlsx": _rows_xlsx}
    suffix = PurePath(name).suffix.lower()
    reader = readers.get(suffix)
    if reader is None:
        return [], [
            RowError(0, f"Unsupported file type '{suffix}': use .jsonl, .json, .csv or .xlsx.")
        ]
    try:
        rows, errors = reader(data)
    except (ValueError, KeyError, OSError, csv.Error) as exc:  # openpyxl raises these too
        return [], [RowError(0, f"The file could not be read: {exc}")]
    if len(rows) > IMPORT_MAX_ROWS:
        return [], [RowError(0, f"The file has more than {IMPORT_MAX_ROWS} rows; split it.")]
    return rows, errors


def _rows_jsonl(data: bytes) -> tuple[list[dict[str, Any]], list[RowError]]:
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for number, line in enumerate(_utf8(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            errors.append(RowError(number, f"Not valid JSON: {exc}."))
            continue
        if isinstance(value, dict):
            rows.append({**value, "_row": number})
        else:
            errors.append(RowError(number, "Each line must be a JSON object."))
    return rows, errors


def _rows_json(data: bytes) -> tuple[list[dict[str, Any]], list[RowError]]:
    text = _utf8(data)
    if not text.lstrip().startswith("["):
        return _rows_jsonl(data)  # JSON lines saved as .json
    items = json.loads(text)
    rows = [{**item, "_row": n} for n, item in enumerate(items, start=1) if isinstance(item, dict)]
    errors = [
        RowError(n, "Each item must be a JSON object.")
        for n, item in enumerate(items, start=1)
        if not isinstance(item, dict)
    ]
    return rows, errors


def _header(cells: Iterable[Any]) -> list[str]:
    return [str(cell or "").strip().lower() for cell in cells]


def _rows_csv(data: bytes) -> tuple[list[dict[str, Any]], list[RowError]]:
    reader = csv.reader(io.StringIO(_utf8(data), newline=""))
    header = _header(next(reader, []))
    rows: list[dict[str, Any]] = []
    errors: list[RowError] = []
    while True:
        number = reader.line_num + 1  # where this record starts (a cell may hold newlines)
        cells = next(reader, None)
        if cells is None:
            break
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            errors.append(RowError(number, "The row has more cells than the header."))
            continue
        rows.append({**dict(zip(header, cells, strict=False)), "_row": number})
    return rows, errors


def _rows_xlsx(data: bytes) -> tuple[list[dict[str, Any]], list[RowError]]:
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a corrupt or non-xlsx file: zipfile, XML and openpyxl errors
        raise ValueError("it is not an .xlsx workbook") from exc
    sheet = book.worksheets[0]
    cells = sheet.iter_rows(values_only=True)
    header = _header(next(cells, ()))
    rows = [
        {**dict(zip(header, values, strict=False)), "_row": number}
        for number, values in enumerate(cells, start=2)
        if any(value not in (None, "") for value in values)
    ]
    book.close()
    return rows, []


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError("it is not UTF-8 text") from exc


def faq_export_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def faq_export_csv(rows: list[dict[str, Any]]) -> str:
    """CSV with a header row; lists one item a line inside their cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FAQ_COLUMNS)
    for row in rows:
        cells = ["\n".join(v) if isinstance(v, list) else v for v in (row[c] for c in FAQ_COLUMNS)]
        writer.writerow(["true" if c is True else "false" if c is False else c for c in cells])
    return out.getvalue()
