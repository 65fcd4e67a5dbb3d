"""A report as an Excel workbook (openpyxl): one sheet per section, the method lines at
the top of each, then the table with its units in the headers; numbers are numbers (a
number format shows their rounding), a figure not stored says no data."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from reports.model import NO_DATA, Report, Table

#: The number format of a header's unit (what the sheet shows; the cell keeps the value).
FORMATS = {"kWh": "#,##0", "m³": "#,##0.0", "kg": "#,##0", "CNY": "#,##0", "count": "#,##0",
           "%": "0.0", "h": "0", "d": "0", "kgCO2 per unit": "0.0000", "kgCO2/kWh": "0.0000",
           "kgCO2/m3": "0.0000", "kgCO2/kg": "0.0000", "kgCO2/GJ": "0.00",
           "kgce per unit": "0.0000", "kJ per unit": "#,##0"}  # fmt: skip
DEFAULT_FORMAT = "#,##0.000"
SHEET_NAMES = {"energy": "能源 Energy", "carbon": "碳排放 CO2", "intensity": "强度 Intensity",
               "quota": "指标预算 Quota budget", "burndown": "逐日累计 Burn-down",
               "alerts": "告警 Alerts", "cems": "在线监测 CEMS",
               "completeness": "完整率 Completeness", "daily": "逐日 Daily",
               "total": "综合能耗 Total", "months": "逐月 Months",
               "enterprise": "企业填写 Enterprise", "boundary": "边界 Boundary",
               "combustion": "燃料燃烧 Combustion", "process": "过程排放 Process",
               "purchased": "外购电热 Purchased", "totals": "总量与强度 Totals",
               "activity": "活动数据 Activity data", "factors": "排放因子 Factors",
               "quality": "数据质量 Data quality"}  # fmt: skip


def _format(header: str, unit: str | None) -> str:
    if unit is None and header.endswith(")"):
        unit = header.rsplit("(", 1)[-1][:-1]
    return FORMATS.get(unit or "", DEFAULT_FORMAT)


def _sheet(book: Workbook, report: Report, table: Table) -> None:
    sheet = book.create_sheet(SHEET_NAMES.get(table.key, table.key)[:31])
    bold = Font(bold=True)
    sheet.append([report.title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([f"{report.subject}  {report.period}"])
    for line in report.methods[1:]:
        sheet.append([line])
    sheet.append([])
    sheet.append([table.title])
    sheet.cell(sheet.max_row, 1).font = bold
    for note in table.notes:
        sheet.append([note])
    sheet.append(list(table.columns))
    for cell in sheet[sheet.max_row]:
        cell.font = bold
    unit_col = table.columns.index("单位 unit") if "单位 unit" in table.columns else None
    for row in table.rows:
        sheet.append([NO_DATA if v is None else v for v in row])
        for i, cell in enumerate(sheet[sheet.max_row]):
            if isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
                # a unit in the header wins over the row's (a factor beside its activity)
                header = table.columns[i]
                unit = str(row[unit_col]) if unit_col is not None else None
                if header.endswith(")"):
                    unit = header.rsplit("(", 1)[-1][:-1]
                cell.number_format = _format(header, unit)
    for i, header in enumerate(table.columns, start=1):
        width = max([len(str(header))] + [len(str(r[i - 1])) for r in table.rows if r[i - 1]])
        sheet.column_dimensions[get_column_letter(i)].width = min(max(width, 10), 60)


def render(report: Report) -> bytes:
    """The workbook's bytes."""
    book = Workbook()
    if book.active is not None:
        book.remove(book.active)
    for table in report.tables:
        _sheet(book, report, table)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
