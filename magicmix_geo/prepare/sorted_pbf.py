"""The highest node and way ids of a PBF file sorted by type then id, from a few of its blocks.

The OSM store plans its passes from a source's highest node and way ids (and about how many
nodes and ways it holds). ``osmium fileinfo --extended`` reads the whole file for them; a PBF
file whose header says it is sorted (``sorting=Type_then_ID``: all nodes by id, then all ways,
then all relations, as Geofabrik's and ``osmium``'s files are) holds its highest node id in
the last block with nodes and its highest way id in the last block with ways. Those blocks
are found by a binary search over the file's blocks, decoding a few of them (libosmium, via
pyosmium): a few dozen blocks of thousands, instead of all.

PBF layout (https://wiki.openstreetmap.org/wiki/PBF_Format): a sequence of blobs, each a
4-byte big-endian length, a ``BlobHeader`` message of that length (field 1 ``type``, field 3
``datasize``) and a ``Blob`` of ``datasize`` bytes; the first blob is the ``OSMHeader``, the
others ``OSMData`` blocks.

The counts are estimates (blocks of a type times the most objects of that type seen in a
decoded block; exact for files whose blocks all hold the same number of objects, as
libosmium writes them); they only weigh whether renumbering pays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import osmium

# the sorting a header must declare (libosmium's header option for ``Sort.Type_then_ID``)
SORTED = "Type_then_ID"
# the PBF format limits a BlobHeader to 64 KiB and a Blob to 32 MiB
MAX_BLOB_HEADER_BYTES = 64 * 2**10
MAX_BLOB_BYTES = 32 * 2**20
NODE, WAY, RELATION = 0, 1, 2
# the order of the types in a sorted file: a block without objects sorts after all of them
EMPTY = 3
_WIRE_VARINT, _WIRE_64BIT, _WIRE_BYTES, _WIRE_32BIT = 0, 1, 2, 5


@dataclass(frozen=True)
class Blob:
    """One framed blob of a PBF file: where it starts and its length with its framing."""

    offset: int
    size: int
    kind: str


@dataclass(frozen=True)
class BlockIds:
    """What one decoded data block holds: per type (:data:`NODE`, :data:`WAY`,
    :data:`RELATION`) its object count and highest id."""

    counts: tuple[int, int, int]
    max_ids: tuple[int, int, int]


class NotSortedPbfError(Exception):
    """The file is not a PBF file declaring ``sorting=Type_then_ID`` (or not one this module
    can walk): its facts must come from a full read."""


def blobs(path: Path) -> list[Blob]:
    """The framed blobs of the PBF file ``path``, from their headers alone (no decoding).

    Raises
    ------
    NotSortedPbfError
        ``path`` does not have PBF framing (another format, or truncated).
    """
    found: list[Blob] = []
    size = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset < size:
            length = int.from_bytes(fh.read(4), "big")
            if not 0 < length <= MAX_BLOB_HEADER_BYTES:
                raise NotSortedPbfError(f"no PBF blob header at byte {offset}")
            kind, datasize = blob_header(fh.read(length))
            end = offset + 4 + length + datasize
            if datasize > MAX_BLOB_BYTES or end > size:
                raise NotSortedPbfError(f"a PBF blob at byte {offset} runs past its limits")
            found.append(Blob(offset, end - offset, kind))
            fh.seek(end)
            offset = end
    if not found or found[0].kind != "OSMHeader":
        raise NotSortedPbfError("no OSMHeader blob first")
    return found


def blob_header(data: bytes) -> tuple[str, int]:
    """The ``type`` and ``datasize`` of a serialized ``BlobHeader`` message."""
    kind, datasize, pos = None, None, 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == _WIRE_VARINT:
            value, pos = read_varint(data, pos)
            if field == 3:
                datasize = value
        elif wire == _WIRE_BYTES:
            length, pos = read_varint(data, pos)
            if field == 1:
                kind = data[pos : pos + length].decode("ascii", "replace")
            pos += length
        elif wire in (_WIRE_64BIT, _WIRE_32BIT):
            pos += 8 if wire == _WIRE_64BIT else 4
        else:
            raise NotSortedPbfError(f"a BlobHeader field of wire type {wire}")
    if kind is None or datasize is None or pos != len(data):
        raise NotSortedPbfError("a BlobHeader without type or datasize")
    return kind, datasize


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The protobuf varint at ``pos`` of ``data`` and the position after it."""
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise NotSortedPbfError("a truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


class SortedPbf:
    """A PBF file declaring ``sorting=Type_then_ID``, read block by block on demand."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        layout = blobs(self.path)
        self._header = self._read(layout[0])
        self.data = [b for b in layout[1:] if b.kind == "OSMData"]
        self._first: dict[int, int] = {}
        self._decoded: dict[int, BlockIds] = {}
        try:
            header = osmium.FileProcessor(osmium.io.FileBuffer(self._header, "pbf")).header
        except RuntimeError as exc:
            raise NotSortedPbfError(f"an unreadable OSMHeader ({exc})") from exc
        if header.get("sorting") != SORTED:
            raise NotSortedPbfError("the header does not declare sorting=Type_then_ID")

    @property
    def blocks_probed(self) -> int:
        """How many data blocks had their first object looked at."""
        return len(self._first)

    @property
    def blocks_decoded(self) -> int:
        """How many data blocks were decoded whole."""
        return len(self._decoded)

    def _read(self, blob: Blob) -> bytes:
        with self.path.open("rb") as fh:
            fh.seek(blob.offset)
            return fh.read(blob.size)

    def _objects(self, index: int) -> osmium.FileProcessor:
        return osmium.FileProcessor(
            osmium.io.FileBuffer(self._header + self._read(self.data[index]), "pbf")
        )

    def first_type(self, index: int) -> int:
        """The type of data block ``index``'s first object (in a sorted file its lowest
        type; :data:`EMPTY` for a block without objects): one object reaches Python."""
        if index not in self._first:
            first = EMPTY
            try:
                for obj in self._objects(index):
                    first = _TYPES[obj.type_str()]
                    break
            except RuntimeError as exc:
                raise NotSortedPbfError(f"an unreadable data block ({exc})") from exc
            self._first[index] = first
        return self._first[index]

    def block(self, index: int) -> BlockIds:
        """The object counts and highest ids of data block ``index`` (decoded once)."""
        if index not in self._decoded:
            counts, max_ids = [0, 0, 0], [0, 0, 0]
            try:
                for obj in self._objects(index):
                    kind = _TYPES[obj.type_str()]
                    counts[kind] += 1
                    max_ids[kind] = max(max_ids[kind], obj.id)
            except RuntimeError as exc:
                raise NotSortedPbfError(f"an unreadable data block ({exc})") from exc
            self._decoded[index] = BlockIds(
                (counts[0], counts[1], counts[2]), (max_ids[0], max_ids[1], max_ids[2])
            )
        return self._decoded[index]

    def first_block_after(self, kind: int) -> int:
        """The index of the first data block whose first object's type is above ``kind``
        (the number of blocks when there is none): in a sorted file these types never
        decrease from block to block, so a binary search finds it."""
        low, high = 0, len(self.data)
        while low < high:
            middle = (low + high) // 2
            if self.first_type(middle) > kind:
                high = middle
            else:
                low = middle + 1
        return low

    def facts(self) -> dict[str, int]:
        """The highest node and way ids and the estimated node and way counts."""
        after_nodes = self.first_block_after(NODE)
        after_ways = self.first_block_after(WAY)
        # the blocks that may hold ways start with the last one that starts with nodes
        first_with_ways = max(after_nodes - 1, 0)
        return {
            "max_node_id": self._last(after_nodes, NODE),
            "max_way_id": self._last(after_ways, WAY),
            "nodes": self._estimate(0, after_nodes, NODE),
            "ways": self._estimate(first_with_ways, after_ways, WAY),
        }

    def _last(self, after: int, kind: int) -> int:
        """The highest id of type ``kind``: in the block before ``after`` (0 if none)."""
        return self.block(after - 1).max_ids[kind] if after > 0 else 0

    def _estimate(self, start: int, end: int, kind: int) -> int:
        """About how many objects of type ``kind`` blocks ``start`` to ``end`` hold: the
        first two and the last exactly, every other as many as the most of those."""
        if end <= start:
            return 0
        exact = {i: self.block(i).counts[kind] for i in {start, min(start + 1, end - 1), end - 1}}
        full = max(exact.values())
        return sum(exact.get(i, full) for i in range(start, end))


_TYPES = {"n": NODE, "w": WAY, "r": RELATION}
