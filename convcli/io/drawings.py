"""Pictures convcli draws with Pillow (plots, animation frames), written as Pillow encodes them.

The explaining features draw with Pillow (:mod:`convcli.explain`): a frequency-response plot,
the frames of an animated geometry.  Drawing is theirs; writing the pictures is io's, like
every other file: atomically, never over an existing file without ``overwrite``, and only in
formats Pillow writes.  These are not signals (no :class:`convcli.io.Signal` is made of
them), so they skip the format table and go to Pillow's encoders with the options given.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArgumentError
from .atomic import atomic_file, atomic_folder, write_new

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["picture_format", "save_picture", "save_pictures", "save_animation"]


def picture_format(path: str | os.PathLike[str]) -> str | None:
    """Return the Pillow format a picture at ``path`` is written in, or None if none writes it.

    Examples
    --------
    >>> picture_format("plot.png"), picture_format("plot.JPG"), picture_format("plot.wav")
    ('PNG', 'JPEG', None)
    """
    from PIL import Image

    ext = os.path.splitext(os.fspath(path))[1].lower()
    fmt = Image.registered_extensions().get(ext)
    return fmt if fmt is not None and fmt in Image.SAVE else None


def save_picture(
    image: Image.Image, path: str | os.PathLike[str], *, overwrite: bool = False
) -> None:
    """Write a picture atomically, in the format its extension names (any Pillow writes).

    Raises
    ------
    ArgumentError
        An extension Pillow cannot write.
    OutputExistsError
        The file exists and ``overwrite`` is false.
    """
    fmt = picture_format(path)
    if fmt is None:
        ext = os.path.splitext(os.fspath(path))[1].lower()
        raise ArgumentError(
            f"plot {os.fspath(path)!r}: cannot write {ext or 'a file without an extension'}; "
            "use .png"
        )
    with atomic_file(path, overwrite=overwrite) as fh:
        image.save(fh, format=fmt)


def save_pictures(
    pictures: Iterable[tuple[str, Image.Image]],
    folder: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    **options: Any,
) -> None:
    """Write named PNG pictures into a new folder, renamed into place when all are written.

    ``pictures`` may be a generator: each picture is drawn, written and let go in turn.
    ``options`` go to Pillow's PNG encoder (``optimize=True``).
    """
    with atomic_folder(Path(folder), overwrite=overwrite) as tmp:
        for name, picture in pictures:
            with write_new(tmp / name) as fh:
                picture.save(fh, format="PNG", **options)


def save_animation(
    frames: Sequence[Image.Image],
    path: str | os.PathLike[str],
    fmt: str,
    *,
    overwrite: bool = False,
    **options: Any,
) -> None:
    """Write frames as one animation (``fmt`` ``"GIF"`` or ``"PNG"``), atomically.

    ``options`` go to Pillow's encoder (``duration``, ``loop``, ``default_image``...).
    """
    with atomic_file(path, overwrite=overwrite) as fh:
        frames[0].save(fh, format=fmt, save_all=True, append_images=list(frames[1:]), **options)
