"""The bundled real sample, shipped inside the package as ``magicmix_geo._sample``."""
