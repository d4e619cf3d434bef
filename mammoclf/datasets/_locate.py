"""Find the files of CBIS-DDSM table paths in either TCIA folder layout.

The tables give paths in the layout ``<case>/<StudyInstanceUID>/
<SeriesInstanceUID>/000000.dcm``. NBIA's download tool writes a descriptive
one instead (``<case>/<date>-DDSM-.../1.000000-full mammogram
images-.../1-1.dcm``), where a file is only matched to its row by the
SeriesInstanceUID in its header; ROI crops are told from masks by their
size, also a header value. Reading the headers of the 10,000+ files of a
full download takes minutes from a cold disk, so :class:`HeaderIndex` keeps
what was read in the mammoclf cache, keyed on the directory listing: a
file's entry is valid while its relative path, size and modification time
are unchanged. A second call reads no header at all.
"""

import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

from mammoclf.storage import (
    DamagedEntryError,
    cache_subdirectory,
    read_entry,
    write_entry,
)
from mammoclf.utils._progress import Progress

__all__ = ["HeaderIndex", "Locator"]

_INDEX_FORMAT = 1
# Header reads in flight: most of their time is waiting for the disk.
_READERS = 8


class HeaderIndex:
    """The cached series and size of every DICOM file under one download root.

    Privacy: the index holds hashes only. A file's key hashes its relative
    path (which names the patient, ``Mass-Training_P_00001_LEFT_CC``) with
    its size and modification time in nanoseconds, which nobody can
    enumerate; its series is stored as a hash of that key and the UID.

    Parameters
    ----------
    root : str
        The download root.
    cache_root : str
        The mammoclf cache directory.
    """

    def __init__(self, root, cache_root):
        self.root = os.path.abspath(root)
        self.cache_root = os.fspath(cache_root)
        name = hashlib.blake2b(self.root.encode("utf-8"), digest_size=16).hexdigest()
        self.path = os.path.join(self.cache_root, "cbis-ddsm-index", name + ".entry")
        self._entries = None  # file key -> [series hash, pixels], or None: unreadable
        self._keys = {}  # path -> file key
        self._changed = False

    def get(self, path):
        """``(True, header)`` for a file read before (header None if unreadable)."""
        entries = self._load()
        key = self._key(path)
        if key is None or key not in entries:
            return False, None
        value = entries[key]
        return True, None if value is None else (value[0], int(value[1]))

    def record(self, path, header):
        """Remember ``header`` (``(series UID, pixels)`` or None); return it hashed."""
        key = self._key(path)
        stored = (
            None if header is None else (self.series_hash(path, header[0]), header[1])
        )
        if key is not None:
            self._load()[key] = None if stored is None else list(stored)
            self._changed = True
        return stored

    def series_hash(self, path, series_uid):
        """The stored form of a series UID for the file at ``path``."""
        text = f"{self._key(path)}\0{series_uid}".encode()
        return hashlib.blake2b(text, digest_size=16).hexdigest()

    def save(self):
        """Write the index back if anything was added (atomically)."""
        if not self._changed:
            return
        cache_subdirectory(self.cache_root, "cbis-ddsm-index")
        payload = json.dumps(self._entries, separators=(",", ":")).encode("utf-8")
        write_entry(self.path, {"format": _INDEX_FORMAT}, payload)
        self._changed = False

    def _load(self):
        if self._entries is None:
            self._entries = {}
            try:
                meta, payload = read_entry(self.path)
                if meta.get("format") == _INDEX_FORMAT:
                    self._entries = json.loads(bytes(payload))
            except FileNotFoundError:
                pass
            except (DamagedEntryError, OSError, ValueError):
                warnings.warn(
                    f"The CBIS-DDSM header index {self.path} is damaged; the "
                    "headers are read again and the index rewritten.",
                    UserWarning,
                    stacklevel=4,
                )
        return self._entries

    def _key(self, path):
        if path not in self._keys:
            try:
                status = os.stat(path)
            except OSError:
                return None
            relative = os.path.relpath(os.path.abspath(path), self.root)
            text = f"{relative}\0{status.st_size}\0{status.st_mtime_ns}"
            self._keys[path] = hashlib.blake2b(
                text.encode("utf-8"), digest_size=16
            ).hexdigest()
        return self._keys[path]


class Locator:
    """Find the file of a table path in either TCIA folder layout.

    Parameters
    ----------
    root : str
        The download root (the folder holding the case folders).
    index : HeaderIndex or None
        Where headers read before are remembered.
    verbose : int, default=0
        Above 0, reading headers prints progress lines.
    """

    def __init__(self, root, index=None, *, verbose=0):
        self.root = root
        self.index = index
        self.verbose = verbose
        self._files = {}  # case folder -> [(path, series, pixels)]
        self.unreadable = []  # .dcm files whose header could not be read
        self._found_by = set()  # "table paths" and/or "NBIA's descriptive folders"

    @property
    def description(self):
        """The TCIA layout(s) the located files were found in."""
        found = " and ".join(sorted(self._found_by)) or "no file found"
        return f"TCIA DICOM download ({found})"

    def locate_all(self, pairs, *, roi, names=None):
        """Return ``(paths, missing)`` for ``(relative, full_relative)`` pairs.

        ``paths`` has None where a file was not found; ``missing`` says why
        for each of them. ``names`` (the pairs' table rows) is unused: the
        TCIA layouts are never ambiguous.
        """
        del names
        self._read_headers(self._cases_needing_headers(pairs, roi=roi))
        located, missing = [], []
        for relative, full_relative in pairs:
            try:
                located.append(self.locate(relative, full_relative, roi=roi))
            except FileNotFoundError as exc:
                located.append(None)
                missing.append(str(exc))
        return located, missing

    def locate(self, relative, full_relative, *, roi):
        parts = _table_parts(relative)
        if parts is None:
            raise FileNotFoundError(
                f"{relative} (not a <case>/<study>/<series>/<file> table path)"
            )
        case, _study, series, _name = parts
        if not roi:
            exact = os.path.join(self.root, *parts)
            if os.path.isfile(exact):
                self._found_by.add("table paths")
                return exact
            candidates = self._series_files(case, series)
            if len(candidates) == 1:
                self._found_by.add("series UIDs in headers")
                return candidates[0][1]
            raise FileNotFoundError(f"{relative} (series {series} not found)")
        candidates = self._series_files(case, series)
        if not candidates:
            raise FileNotFoundError(f"{relative} (ROI series {series} not found)")
        pixels, path = min(candidates)
        full_pixels = self._full_image_pixels(full_relative)
        if full_pixels is not None and pixels >= full_pixels:
            raise FileNotFoundError(
                f"{relative} (its series holds only full-size files, i.e. masks; "
                "no cropped image)"
            )
        self._found_by.add("series UIDs in headers")
        return path

    def locate_masks(self, pairs, names):
        """Per ``(mask paths, full path)`` pair, the tuple of its mask files.

        A mask is the largest file of its series (the crop of the same
        abnormality may share it); a series holding one file counts as a
        mask only if that file has at least a quarter of the full image's
        pixels. None where no mask was found. ``names`` is unused: a TCIA
        series is never ambiguous. Returns the tuples and the number of
        masks not found.
        """
        del names
        cases = {
            part[0]
            for relatives, full in pairs
            for part in map(_table_parts, (*relatives, full))
            if part is not None
        }
        self._read_headers(sorted(cases - set(self._files)))
        masks, n_missing = [], 0
        for relatives, full_relative in pairs:
            found = []
            for relative in filter(None, relatives):
                path = self._mask(relative, full_relative)
                if path is None:
                    n_missing += 1
                else:
                    found.append(path)
            masks.append(tuple(dict.fromkeys(found)) or None)
        return masks, n_missing

    def _mask(self, relative, full_relative):
        parts = _table_parts(relative)
        candidates = [] if parts is None else self._series_files(parts[0], parts[2])
        if not candidates:
            return None
        pixels, path = max(candidates)
        full_pixels = self._full_image_pixels(full_relative)
        if len(candidates) == 1 and (full_pixels is None or 4 * pixels < full_pixels):
            return None
        return path

    def _full_image_pixels(self, full_relative):
        parts = _table_parts(full_relative)
        if parts is None:
            return None
        candidates = self._series_files(parts[0], parts[2])
        return candidates[0][0] if len(candidates) == 1 else None

    def _series_files(self, case, series):
        """``[(pixels, path)]`` of the case's files in ``series``, by header."""
        if case not in self._files:
            self._read_headers([case])
        matches = []
        for path, stored, pixels in self._files[case]:
            if self.index is not None:
                series_of_path = self.index.series_hash(path, series)
            else:
                series_of_path = series
            if stored == series_of_path:
                matches.append((pixels, path))
        return matches

    def _cases_needing_headers(self, pairs, *, roi):
        """Case folders whose headers the pairs need: NBIA layout or ROI sizes."""
        cases = set()
        for relative, full_relative in pairs:
            parts = _table_parts(relative)
            if parts is None:
                continue
            if roi:
                full = _table_parts(full_relative)
                cases.update([parts[0]] + ([full[0]] if full else []))
            elif not os.path.isfile(os.path.join(self.root, *parts)):
                cases.add(parts[0])
        return sorted(cases - set(self._files))

    def _read_headers(self, cases):
        """Index the DICOM files of ``cases``: from the index, else their headers."""
        for case in cases:
            self._files.setdefault(case, [])
        listing = [(case, path) for case in cases for path in self._dicom_files(case)]
        if not listing:
            return
        headers, unread = {}, []
        for _, path in listing:
            known, header = (
                (False, None) if self.index is None else self.index.get(path)
            )
            if known:
                headers[path] = header
            else:
                unread.append(path)
        progress = Progress(
            len(unread), "locating: DICOM headers", enabled=self.verbose > 0
        )
        # pydicom's warnings may quote identifiers. Filters are process-wide,
        # so they are set here, around the reader threads.
        with warnings.catch_warnings(), ThreadPoolExecutor(_READERS) as pool:
            warnings.simplefilter("ignore")
            for path, header in zip(unread, pool.map(_read_header, unread)):
                if self.index is not None:
                    header = self.index.record(path, header)
                headers[path] = header
                progress.advance()
        progress.finish(f"{len(listing) - len(unread)} more from the header index")
        for case, path in listing:
            if headers[path] is None:
                self.unreadable.append(path)
            else:
                self._files[case].append((path, *headers[path]))
        if self.index is not None:
            self.index.save()

    def _dicom_files(self, case):
        folder = os.path.join(self.root, case)
        return [
            os.path.join(directory, name)
            for directory, _, names in sorted(os.walk(folder))
            for name in sorted(names)
            if name.lower().endswith(".dcm")
        ]


def _table_parts(relative):
    parts = relative.replace("\\", "/").split("/")
    return parts if len(parts) == 4 else None


def _read_header(path):
    """``(SeriesInstanceUID, rows * columns)`` of a DICOM file, or None if unreadable."""
    import pydicom

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        return str(header.SeriesInstanceUID), int(header.Rows) * int(header.Columns)
    except Exception:  # noqa: BLE001 - listed in the missing-files error
        return None
