"""The vendored browser libraries (issue 17): every file signaling/static/vendor/packages.txt lists is there,
and a bundle says which pinned version it was made from (refresh.sh writes that line), so the list and the
files cannot drift apart unnoticed. The refresh itself needs the npm registry and is run by hand."""

from __future__ import annotations

from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "signaling" / "static" / "vendor"


def entries() -> list[tuple[str, str, str]]:
    out = []
    for line in (VENDOR / "packages.txt").read_text().splitlines():
        parts = line.split()
        if parts and not line.lstrip().startswith("#") and parts[1] != "tool":
            spec, what, dest = parts
            out.append((spec, what, dest))
    return out


def test_every_listed_file_is_vendored_with_its_licence() -> None:
    listed = entries()
    assert ("yjs@13.6.33", "bundle:yjs", "yjs/yjs.js") in listed
    assert ("pdfjs-dist@6.5.438", "build/pdf.min.mjs", "pdfjs/pdf.min.mjs") in listed  # the document viewer
    for spec, what, dest in listed:
        path = VENDOR / dest
        assert path.is_file() and path.stat().st_size > 0, (spec, dest)
        pkg, version = spec.rsplit("@", 1)
        if what.startswith("bundle:"):
            first = path.read_text().splitlines()[0]
            assert first.startswith(f"// {pkg} {version} ({what})"), (dest, first)
            # one self-contained module: no import of another file (lib0 is inside), no CDN
            assert 'from"' not in path.read_text() and "https://" not in path.read_text()[:200], dest
    licences = {dest for _spec, what, dest in listed if what == "LICENSE"}
    for _spec, what, dest in listed:
        if what.startswith("bundle:"):
            assert str(Path(dest).parent / "LICENSE") in licences, dest
    assert (VENDOR / "refresh.sh").read_text().startswith("#!/bin/sh")


def test_every_vendored_file_is_listed_and_every_folder_has_its_licence() -> None:
    listed = {dest for _spec, _what, dest in entries()}
    on_disk = {
        str(p.relative_to(VENDOR))
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name not in ("packages.txt", "refresh.sh")
    }
    assert on_disk == listed, on_disk ^ listed
    for folder in {Path(d).parent for d in listed}:
        assert str(folder / "LICENSE") in listed, folder
