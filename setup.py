"""Build the mediaserver package and its native media core (Cython + C, linked to OpenSSL)."""
import glob
import os

from setuptools import Extension, find_packages, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - Cython is a build requirement
    raise SystemExit("Cython>=3.0 is required to build the native core: pip install cython")

CORE_C = sorted(glob.glob("native/core/*.c"))
CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wno-unused-function", "-Wno-deprecated-declarations"]
if os.environ.get("MEDIASERVER_DEBUG"):
    CFLAGS = ["-O0", "-g", "-std=gnu11", "-Wall", "-fno-omit-frame-pointer"]

extensions = [
    Extension(
        "native._core",
        ["native/_core.pyx", *CORE_C],
        include_dirs=["native/core"],
        libraries=["ssl", "crypto", "pthread", "m"],
        extra_compile_args=CFLAGS,
    ),
    Extension(
        "native._srtp",
        ["native/_srtp.pyx", "native/core/srtp.c"],
        include_dirs=["native/core"],
        libraries=["crypto"],
        extra_compile_args=CFLAGS,
    ),
    Extension(
        "native._bwe",
        ["native/_bwe.pyx", "native/core/bwe.c"],
        include_dirs=["native/core"],
        libraries=["m"],
        extra_compile_args=CFLAGS,
    ),
    Extension(
        "bench.loadgen._loadgen",
        ["bench/loadgen/_loadgen.pyx", "bench/loadgen/lg.c", "native/core/stun.c", "native/core/dtls.c",
         "native/core/srtp.c", "native/core/rtp.c", "native/core/rtcp.c", "native/core/bwe.c"],
        include_dirs=["native/core", "bench/loadgen"],
        libraries=["ssl", "crypto", "pthread", "m"],
        extra_compile_args=CFLAGS,
    ),
]

setup(
    name="mediaserver",
    version="0.1.0",
    description="Self-hostable webinar and meeting platform with a native WebRTC SFU",
    license="Apache-2.0",
    packages=find_packages(include=["mediaserver", "mediaserver.*", "signaling", "signaling.*", "native"]),
    package_data={"signaling": ["static/*", "static/*/*", "sdk/*"], "native": ["*.pxd", "*.pyx", "*.pyi"],
                  "mediaserver.store": ["migrations/*.py", "migrations/*.mako", "migrations/versions/*.py"]},
    ext_modules=cythonize(extensions, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False}),
    python_requires=">=3.10",
    install_requires=[
        "aiohttp>=3.9",
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
        "aiosmtplib>=3.0",
        "pydantic>=2.6",
        "av>=12",           # PyAV: recordings, live feeds and streams (mediaserver.output)
        "numpy>=1.26",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-asyncio>=0.23",
            "pytest-timeout>=2.3",
            "pytest-benchmark>=4",
            "hypothesis>=6.100",
            "aiortc>=1.9",
            "matplotlib>=3.7",
            "selenium>=4.20",
            "ruff>=0.5",
            "openapi-spec-validator>=0.7",
            "xlwt>=1.3",
            "aiosmtpd>=1.4",
            "schemathesis>=4.0",
            "requests>=2.31",
        ],
    },
    entry_points={"console_scripts": ["mediaserver=mediaserver.cli:main"]},
)
