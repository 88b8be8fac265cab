"""Prefect flows around the library: acquire -> rank (one task per municipality) -> publish.

Each file is runnable on its own (``python flows/national.py --help``). Tasks pass paths and
content hashes, never GeoDataFrames; the library (``magicmix_geo``) never imports prefect.
"""
