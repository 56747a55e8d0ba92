"""Safe reading of a checkpoint's ``.npz`` archive: entry by entry, never unpickling.

Split from :mod:`portable_layers.checkpoint`: the zip directory and each ``.npy`` header
are checked before an entry is decompressed, and no entry is read past its declared size.
"""

from __future__ import annotations

import math
import zipfile
from typing import Any

import numpy as np

from . import _validate as check

#: Bytes a ``.npy`` header may take (NumPy writes about 128 for these entries).
HEADER_LIMIT = 1 << 16
#: Bytes a metadata entry may hold (a history of eight million floats).
META_LIMIT = 1 << 26


class Archive:
    """An ``.npz`` file opened for reading entry by entry, never unpickling.

    Opening reads the zip directory and every entry's ``.npy`` header (a few hundred
    bytes decompressed each: no object dtype anywhere, even in entries never read);
    :meth:`read` decompresses one entry after checking its declared size.  A truncated
    or corrupt file (zipfile.BadZipFile, EOFError, zlib.error, ...) or an entry that is
    not a real numeric array gives one ValueError.
    """

    def __init__(self, func: str, path: str) -> None:
        self.func, self.path = func, path
        self.keys: list[str] = []

    def __enter__(self) -> Archive:
        self._file = open(self.path, "rb")  # closed in __exit__; OSError (missing file) passes
        try:
            self._zip = zipfile.ZipFile(self._file)
            self._infos: dict[str, zipfile.ZipInfo] = {}
            for info in self._zip.infolist():
                if info.is_dir() or not info.filename.endswith(".npy"):
                    raise ValueError(f"entry {info.filename} is not a .npy array")
                self._infos[info.filename.removesuffix(".npy")] = info
            for key, info in self._infos.items():
                with self._zip.open(info) as fp:
                    self._header(key, fp)
        except Exception as err:
            self._file.close()
            raise self._corrupt(err) from None
        self.keys = list(self._infos)
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()
        self._file.close()

    def _corrupt(self, err: Exception) -> ValueError:
        msg = (f"{self.func}: {self.path} must be an .npz archive of numeric arrays; pickled "
               f"objects are never loaded ({type(err).__name__}: {err})")
        return ValueError(msg)

    @staticmethod
    def _header(key: str, fp: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
        """Shape, Fortran order and dtype from the ``.npy`` header; only numbers (and
        strings under ``meta/``) pass."""
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(fp, max_header_size=HEADER_LIMIT)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(fp, max_header_size=HEADER_LIMIT)
        else:
            raise ValueError(f"entry {key} has .npy format version {version}")
        shape, fortran, dtype = header
        if dtype.hasobject or (dtype.kind not in "biuf"
                               and not (dtype.kind == "U" and key.startswith("meta/"))):
            raise ValueError(f"entry {key} has dtype {dtype}")
        return tuple(shape), bool(fortran), dtype

    def read(self, key: str, shape: tuple[int, ...] | None, w: Any) -> np.ndarray:
        """Entry ``key`` as a host array, decompressed only once its sizes are checked.

        ``shape`` is the model's shape for the entry; None allows ``()`` or ``w``'s
        shape (optimiser state), or with ``w`` None too any shape of a metadata entry
        of at most :data:`META_LIMIT` bytes.  The entry's declared size is checked
        against that bound before anything is decompressed, and then against its header.
        """
        info = self._infos[key]
        shapes = [shape] if shape is not None else [] if w is None else [(), tuple(w.shape)]
        limit = META_LIMIT if w is None else HEADER_LIMIT + 8 * max(map(math.prod, shapes))
        if info.file_size > limit:
            wanted = ("metadata" if w is None else
                      " or ".join(f"a {s} array" for s in shapes) + " of the model")
            raise ValueError(f"{self.func}: entry {key} of {self.path} declares "
                             f"{info.file_size} bytes, more than the {limit} that {wanted} "
                             "may take; nothing was decompressed")
        check.allocation(self.func, info.file_size, f"entry {key} of {self.path}")
        with self._zip.open(info) as fp:
            found, fortran, dtype = self._header(key, fp)
            if shapes and found not in shapes:
                raise self._shape_error(key, found, shapes)
            nbytes = math.prod(found) * dtype.itemsize
            if fp.tell() + nbytes != info.file_size:
                raise ValueError(f"{self.func}: entry {key} of {self.path} declares "
                                 f"{info.file_size} bytes, but its header says "
                                 f"{fp.tell() + nbytes}")
            try:
                raw = fp.read(nbytes)
            except Exception as err:  # zlib.error, BadZipFile (CRC), EOFError, ...
                raise self._corrupt(err) from None
        if len(raw) != nbytes:
            raise self._corrupt(EOFError(f"entry {key} is truncated"))
        a = np.frombuffer(raw, dtype=dtype).reshape(found, order="F" if fortran else "C")
        return a.astype(dtype.newbyteorder("="), copy=False)

    def _shape_error(self, key: str, found: tuple[int, ...],
                     shapes: list[tuple[int, ...]]) -> ValueError:
        prefix, _, name = key.partition("/")
        if prefix == "optim":
            param = name.partition("/")[0]
            return ValueError(f"{self.func}: optimiser state {name} has shape {found}, but "
                              f"parameter {param} has {shapes[-1]} in the model")
        what = "parameter" if prefix == "params" else "running statistic"
        return ValueError(f"{self.func}: {what} {name} has shape {found} in {self.path}, "
                          f"but {shapes[0]} in the model")
