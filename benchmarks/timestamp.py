"""Timestamp benchmark: what an RFC 3161 timestamp and PAdES B-LTA data add to signing a report, on loopback.

    .venv/bin/python benchmarks/timestamp.py [--repeat N]

Setup (not timed): certomancer's test PKI (CA, signer, CRLs, TSA) served over HTTP on 127.0.0.1, the same one the
tests use, and a 4-page PDF. Then, in one process, the median of N runs of:

- B-B: pyHanko signature without timestamp (what Countersign did before);
- B-T: the same plus a signature timestamp from the TSA (pyHanko, ``timestamper=``);
- B-LTA: ``sign_pdf(..., timestamp_url=...)``: signature timestamp, CRLs fetched and embedded, document timestamp;
- floor: one bare RFC 3161 request to the same TSA (``HTTPTimeStamper.async_timestamp``): the round trip and
  the TSA's own signing, which no timestamped signature can avoid.
Goal (issue 38): a timestamp adds <= 0.3 s to signing on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    page = canvas.Canvas(buf, invariant=1)
    for n in range(4):
        for line in range(50):
            page.drawString(72, 760 - 14 * line, f"Page {n + 1}, line {line + 1}: validation evidence.")
        page.showPage()
    page.save()
    return buf.getvalue()


def _timed(fn, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn`` over ``repeat`` runs (one warm-up run first)."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    """Run the benchmark and print one line per variant with its cost over B-B."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers, timestamps

    from governance.reports.keys import load_key_pair
    from governance.reports.sign import sign_pdf
    from tests.servers.pki import start_pki

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    repeat = parser.parse_args().repeat
    folder = Path(tempfile.mkdtemp(prefix="cs-tsa-bench-"))
    pki = start_pki(folder)
    chain = folder / "chain.pem"
    chain.write_bytes(pki.signer_cert.read_bytes() + pki.root_cert.read_bytes())
    signer = load_key_pair(pki.signer_key, chain, passphrase=None, hint="")
    pdf = _pdf()
    stamper = timestamps.HTTPTimeStamper(pki.tsa_url)

    def b_t() -> bytes:
        meta = signers.PdfSignatureMetadata(field_name="S", md_algorithm="sha256",
                                            subfilter=fields.SigSeedSubFilter.PADES)
        return signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer,
                                timestamper=stamper).getvalue()

    rows = {
        "B-B (no timestamp)": _timed(lambda: sign_pdf(pdf, signer, name="B", reason="bench"), repeat),
        "B-T (signature timestamp)": _timed(b_t, repeat),
        "B-LTA (timestamps + CRLs)": _timed(
            lambda: sign_pdf(pdf, signer, name="B", reason="bench", timestamp_url=pki.tsa_url), repeat),
        "floor: one bare TSA request": _timed(
            lambda: asyncio.run(stamper.async_timestamp(hashlib.sha256(pdf).digest(), "sha256")), repeat),
    }
    pki.stop()
    base_wall, _base_cpu = rows["B-B (no timestamp)"]
    print(f"signing a {len(pdf) // 1024} KiB PDF, median of {repeat} runs, TSA and CRLs on loopback")
    for name, (wall, cpu) in rows.items():
        extra = "" if name.startswith(("B-B", "floor")) else f"  adds {wall - base_wall:+.3f} s wall"
        print(f"  {name:30s} {wall:7.3f} s wall {cpu:7.3f} s CPU{extra}")
    added = rows["B-T (signature timestamp)"][0] - base_wall
    floor = rows["floor: one bare TSA request"][0]
    print(f"timestamp cost {added:.3f} s = {added / floor:.2f}x one bare TSA round trip; "
          f"goal <= 0.3 s: {'met' if added <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
