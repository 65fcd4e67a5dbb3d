"""The reports an energy manager files, made from the stored KPIs (issue 27).

A layer of its own between the stages and the core: it imports ``smartpark`` only, and
the API (its report routes and the ``smartpark report`` command, which read the figures
through the API's read layer) imports it. Pure: figures in, sections and bytes out.

Modules:
  model    a report as plain data: method lines, tables (units in headers), charts
  labels   what each KPI field is called in a report (Chinese and English) and its unit
  monthly  the monthly energy and carbon report from a month's stored figures
  annual   the annual energy-use report (能源利用状况报告) from a year's monthly figures
  ghg      the greenhouse-gas inventory (GB/T 32150-2015) from a period's monthly figures
  xlsx     a report as an Excel workbook (openpyxl): one sheet per section
  pdf      a report as a PDF with its charts (reportlab, an embedded CJK font)
"""
