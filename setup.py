"""Build the mediaserver package and its native media core (Cython + C, linked to OpenSSL)."""
import glob
import os

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - Cython is a build requirement
    raise SystemExit("Cython>=3.0 is required to build the native core: pip install cython")

# Every C source of the media core is compiled once, into a static library that each extension links.
CORE_C = sorted(glob.glob("native/core/*.c"))
CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wno-unused-function", "-Wno-deprecated-declarations"]
if os.environ.get("MEDIASERVER_DEBUG"):
    CFLAGS = ["-O0", "-g", "-std=gnu11", "-Wall", "-fno-omit-frame-pointer"]
CORE_DEPS = [*CORE_C, *glob.glob("native/core/*.h")]    # relink when the library's sources change
CORE_LIB = ("mscore", {"sources": CORE_C, "include_dirs": ["native/core"], "cflags": [*CFLAGS, "-fPIC"]})
# The product is native._core alone. The load generator and the bindings that only tests and benchmarks
# use are built with MEDIASERVER_BUILD_TESTING=1 (.ci/run and the README's test set-up set it).
BUILD_TESTING = os.environ.get("MEDIASERVER_BUILD_TESTING", "") not in ("", "0")
SYSLIBS = ["ssl", "crypto", "pthread", "m"]


def ext(name: str, sources: list[str], include_dirs: tuple[str, ...] = ()) -> Extension:
    # mscore first: the static library's objects need the system libraries after it
    return Extension(name, sources, include_dirs=["native/core", *include_dirs], libraries=["mscore", *SYSLIBS],
                     extra_compile_args=CFLAGS, depends=CORE_DEPS)


extensions = [ext("native._core", ["native/_core.pyx"])]
if BUILD_TESTING:
    extensions += [
        ext("native._srtp", ["native/_srtp.pyx"]),
        ext("native._bwe", ["native/_bwe.pyx"]),
        ext("native._units", ["native/_units.pyx"]),
        ext("bench.loadgen._loadgen", ["bench/loadgen/_loadgen.pyx", "bench/loadgen/lg.c"], ("bench/loadgen",)),
    ]


class BuildExt(build_ext):
    """Builds the core's static library first (build_ext alone, e.g. --inplace, would not) and says which
    flavour it builds."""

    def run(self) -> None:
        self.run_command("build_clib")
        build_clib = self.get_finalized_command("build_clib")
        self.library_dirs.append(build_clib.build_clib)
        print("mediaserver native build:", ", ".join(e.name for e in self.extensions),
              "" if BUILD_TESTING else "(product only; MEDIASERVER_BUILD_TESTING=1 adds the test bindings)")
        super().run()
        if BUILD_TESTING:  # bench/interaction.py's WebSocket clients: a program, not a module
            objs = self.compiler.compile(["bench/wsload/wsload.c"], output_dir=self.build_temp, extra_postargs=CFLAGS)
            self.compiler.link_executable(objs, "wsload", output_dir="bench/wsload")


setup(
    name="mediaserver",
    version="0.1.0",
    description="Self-hostable webinar and meeting platform with a native WebRTC SFU",
    license="Apache-2.0",
    packages=find_packages(include=["mediaserver", "mediaserver.*", "signaling", "signaling.*", "native"]),
    package_data={"signaling": ["static/*", "static/*/*", "static/*/*/*", "sdk/*"], "native": ["*.pxd", "*.pyx", "*.pyi"],
                  "mediaserver.store": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"]},
    libraries=[CORE_LIB],
    cmdclass={"build_ext": BuildExt},
    ext_modules=cythonize(extensions, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False}),
    python_requires=">=3.10",
    install_requires=[
        "aiohttp>=3.9",
        "yarl>=1.9",        # URLs parsed as aiohttp parses them: the webhook address policy (mediaserver.outbound)
        "uvloop>=0.19",
        "prometheus-client>=0.20",
        "PyYAML>=6.0",
        "openpyxl>=3.1",
        "xlrd>=2.0",
        "charset-normalizer>=3.3",
        "SQLAlchemy[asyncio]>=2.0",
        "alembic>=1.13",
        "aiosqlite>=0.20",
        "asyncpg>=0.29",
        "argon2-cffi>=23.1",
        "cryptography>=42",  # Fernet: the secrets sealed at rest (mediaserver.store.sealed)
        "email-validator>=2.1",  # one parsed mailbox per address (issue 14 finding 14)
        "limits>=3.13",     # rate limits of sign-ins, sign-ups and joins (mediaserver/ratelimit.py)
        "aiosmtplib>=3.0",
        "pydantic>=2.6",
        "pydantic-core>=2.14",  # PydanticCustomError: API validation errors with our own codes
        "av>=12",           # PyAV: recordings, live feeds and streams (mediaserver.output)
        "numpy>=1.26",
        "pypdfium2>=4.30",  # documents' page counts, checks and page images (mediaserver.library.convert_child)
        "pycrdt>=0.12",     # the whiteboard's CRDT document, Yjs-compatible (mediaserver.interaction.board, R-INT-5)
        "Pillow>=10",       # documents' page images (PNG, WebP); the whiteboard's PNG and PDF export (issue 17)
        "redis>=5.0",       # issue 19: a cluster's nodes share a Redis (mediaserver.cluster); unused by one node alone
        "ua-parser>=1.0",   # R-STAT-1: attendees' browser, OS and device (Apache-2.0)
        "ua-parser-builtins>=202401",  # its precompiled rules (Apache-2.0)
        "iptocc>=3.0",      # R-STAT-1: attendees' countries, offline, from the registries' data (MIT OR Apache-2.0)
        "maxminddb>=2.5",   # R-STAT-1: or from an operator's MaxMind-format .mmdb (geoip_database; Apache-2.0)
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-asyncio>=0.23",
            "pytest-timeout>=2.3",
            "pytest-benchmark>=4",
            "pytest-xdist>=3.5",  # CI's api-and-security stage on two workers (.ci/run)
            "hypothesis>=6.100",
            "aiortc>=1.9",
            "matplotlib>=3.7",
            "selenium>=4.20",
            "marionette-driver>=3.7",  # Firefox over Marionette (Debian has no geckodriver)
            "ruff>=0.5",
            "openapi-spec-validator>=0.7",
            "xlwt>=1.3",
            "aiosmtpd>=1.4",
            "schemathesis>=4.0",
            "requests>=2.31",
            "mmdb-writer>=0.2",  # a MaxMind-format file for the geoip_database test (MIT; netaddr: BSD-style)
            "python-docx>=1.1",  # the documents the conversion tests make (tests/api/test_documents.py)
            "python-pptx>=0.6.23",
            "odfpy>=1.4",
        ],
    },
    entry_points={"console_scripts": ["mediaserver=mediaserver.cli:main"]},
)
