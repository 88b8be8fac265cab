"""Readers and rules of the file formats that more than one stage reads (acquire writes
them into the data cache, prepare reads them into a run): CBS maps, BAG panden, boundaries.
"""
