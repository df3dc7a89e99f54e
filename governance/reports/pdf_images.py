"""Chart images in the PDF, drawn from their image XObject kept by content.

reportlab draws a PNG by decoding it, hashing the pixels (the XObject's name) and deflating them again: ~50 ms of CPU
a chart, every build, and the same result for the same PNG. :class:`ChartImage` is reportlab's ``Image`` flowable
whose drawing does what ``Canvas.drawImage`` does with that result, kept under ``<workspace>/cache/charts/`` by the
PNG's sha256 and reportlab's version: the same objects in the file, so the same bytes, without the pixel work.
"""

from __future__ import annotations

import base64
import io
import json
import struct
from typing import Any

import reportlab
from reportlab import rl_config
from reportlab.lib.boxstuff import aspectRatioFix
from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import _digester
from reportlab.platypus import Image

from governance.reports.chart_cache import cached

# what an image XObject carries into the file (pdfdoc.PDFImageXObject.format reads these)
_FIELDS = ("name", "width", "height", "bitsPerComponent", "colorSpace", "_filters", "mask", "_decode", "_dotrans")


def _state(obj: Any) -> dict[str, Any]:
    out = {k: getattr(obj, k) for k in _FIELDS if hasattr(obj, k)}
    stream = obj.streamContent  # text when rl_config.useA85 (ASCII85), else bytes
    out["stream"] = stream if isinstance(stream, str) else {"b64": base64.b64encode(stream).decode("ascii")}
    smask = getattr(obj, "_smask", None)
    if smask is not None:
        out["_smask"] = _state(smask)
    return out


def _xobject(state: dict[str, Any]) -> pdfdoc.PDFImageXObject:
    obj = pdfdoc.PDFImageXObject(state["name"])
    for k in _FIELDS:
        if k in state:
            value = state[k]
            setattr(obj, k, tuple(value) if k in ("_filters", "mask") and isinstance(value, list) else value)
    stream = state["stream"]
    obj.streamContent = stream if isinstance(stream, str) else base64.b64decode(stream["b64"])
    if "_smask" in state:
        obj._smask = _xobject(state["_smask"])
    return obj


def _made(image: Any, mask: Any) -> dict[str, Any]:
    """What ``Canvas.drawImage`` makes of an ``ImageReader``: the name (a digest of the pixels and the mask) and the
    XObject (with its soft mask)."""
    rawdata = image.getRGBData()
    smask = image._dataA
    mdata = smask.getRGBData() if mask == "auto" and smask else str(mask)
    if isinstance(mdata, str):
        mdata = mdata.encode("utf8")
    name = _digester(rawdata + mdata)
    return _state(pdfdoc.PDFImageXObject(name, image, mask=mask))


class ChartImage(Image):
    """A PNG chart as reportlab's ``Image`` lays it out, drawn from its XObject cached by the PNG's content."""

    def __init__(self, png: bytes, cache_dir: Any, key: str) -> None:
        # what Image(io.BytesIO(png)) sets, the size read from the PNG's header instead of through PIL (the pixels
        # are opened only when the XObject is not cached: ``self._img``)
        if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
            raise ValueError("a chart image must be a PNG")
        self.hAlign, self._mask, self._drawing, self._dpi = "CENTER", "auto", None, False
        self._file = io.BytesIO(png)
        self.filename = repr(self._file)
        self._lazy, self._width, self._height, self._kind = 0, None, None, "direct"
        self.imageWidth, self.imageHeight = struct.unpack(">II", png[16:24])
        self.drawWidth, self.drawHeight = self.imageWidth, self.imageHeight
        self._png_sha256 = key
        self._cache_dir = cache_dir

    def draw(self) -> None:
        """Draw as ``Canvas.drawImage`` would, from the cached XObject."""
        # what the XObject depends on: the PNG, reportlab, the mask and whether streams are ASCII85 (set at build)
        key = {"xobject": self._png_sha256, "reportlab": reportlab.Version, "mask": self._mask,
               "a85": rl_config.useA85}
        data = cached(self._cache_dir, key, ".xobject.json",
                      lambda: json.dumps(_made(self._img, self._mask)).encode("utf-8"))
        _draw(self.canv, json.loads(data), getattr(self, "_offs_x", 0), getattr(self, "_offs_y", 0),
              self.drawWidth, self.drawHeight)


def _draw(canvas: Any, state: dict[str, Any], x: float, y: float, width: float, height: float) -> None:
    """``Canvas.drawImage`` (reportlab 5.1) after its image is made: register the XObject once, then place it."""
    canvas._currentPageHasImages = 1
    name = state["name"]
    reg_name = canvas._doc.getXObjectName(name)
    img = canvas._doc.idToObject.get(reg_name, None)
    if not img:
        img = _xobject(state)
        img.name = name
        canvas._setXObjects(img)
        canvas._doc.Reference(img, reg_name)
        canvas._doc.addForm(name, img)
        smask = getattr(img, "_smask", None)
        if smask:
            mask_name = canvas._doc.getXObjectName(smask.name)
            if not canvas._doc.idToObject.get(mask_name, None):
                canvas._setXObjects(smask)
                img.smask = canvas._doc.Reference(smask, mask_name)
            else:
                img.smask = pdfdoc.PDFObjectReference(mask_name)
            del img._smask
    x, y, width, height, _scaled = aspectRatioFix(False, "c", x, y, width, height, img.width, img.height, False)
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(width, height)
    canvas._code.append(f"/{reg_name} Do")
    canvas.restoreState()
    canvas._formsinuse.append(name)
