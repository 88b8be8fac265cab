#!/usr/bin/env bash
# Everything the tests need on a fresh Debian/Ubuntu machine (run as root or with sudo):
# the system packages, then the project in .venv with its test and lint tools.
#   bash tests/setup.sh && .venv/bin/python -m pytest -q
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# QGIS (PyQGIS for the system python3) opens the GeoPackages and the project file; Chromium
# loads the interactive maps and index.html; osmium-tool cuts the municipal extracts of a
# shared OSM file; poppler-utils (pdftoppm, pdftotext) lets the tests look at the pages of the
# PDF reports (ReportLab, pure Python: no system library); fonts-wqy-zenhei (CJK) and
# fonts-symbola (symbols, emoji) are the PDF's TrueType fallbacks for names DejaVu cannot show
# (publish/pdf_fonts.py). Measured on bookworm: about 90 s in all, most of it QGIS.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  python3-qgis qgis-providers chromium osmium-tool poppler-utils fonts-dejavu-core \
  fonts-wqy-zenhei fonts-symbola >/dev/null

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,lint]'
