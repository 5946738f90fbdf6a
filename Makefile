# Decorum's front door.  Meson does the building; this file only strings
# the steps together so that a fresh Debian 12 machine needs two commands:
#
#   make run    install what is missing, build, start the demo server
#   make test   install what is missing, build (gcc, gcc optimised, and
#               clang with ASan+UBSan+libFuzzer), run unit, integration
#               and fuzz tests
#   make bench  Decorum side by side with a private Postfix instance
#
# Build directories: build/ (gcc, the one installed), build-san/ (clang,
# sanitizers, fuzz harnesses; the tests run against it), build-release/
# (optimised, for benchmarks).

MESON ?= meson
NINJA ?= ninja

.PHONY: all build run test bench install clean deps-build deps-run deps-test deps-bench

all: build

# scripts/deps installs what deps/*.txt names; scripts/preflight then
# checks that the capabilities are really there (a package's Recommends
# are not installed) and names the package when one is not.
deps-build:
	@scripts/deps build
	@scripts/preflight build

deps-run:
	@scripts/deps build
	@scripts/preflight build run

deps-test:
	@scripts/deps build test
	@scripts/preflight build test

deps-bench:
	@scripts/deps build bench
	@scripts/preflight build bench

build/build.ninja:
	$(MESON) setup build

build-san/build.ninja:
	CC=clang $(MESON) setup build-san -Db_sanitize=address,undefined \
		-Db_lundef=false -Dfuzz=true -Dtests=enabled

build-release/build.ninja:
	$(MESON) setup build-release --buildtype=release -Dtests=disabled

build: deps-build build/build.ninja
	$(NINJA) -C build

run: deps-run build/build.ninja
	$(NINJA) -C build
	@scripts/run-demo build

# The optimised build too: gcc finds some faults (format truncation
# through inlined callers) only when it optimises, and make bench needs
# it to build.
test: deps-test build/build.ninja build-san/build.ninja build-release/build.ninja
	$(NINJA) -C build
	$(NINJA) -C build-release
	$(NINJA) -C build-san
	@tests/run-all

# Everything on the temporary folder's file system, then issue 12's goal
# benchmarks again on a journaled ext4 made for the run (bench/run --fs).
bench: deps-bench build-release/build.ninja
	$(NINJA) -C build-release
	@bench/run build-release
	@bench/run build-release --bench goals --fs journaled \
		--out bench/out/journaled

install: build
	$(MESON) install -C build
	@getent passwd decorum >/dev/null || \
		useradd --system --home-dir /var/spool/decorum --no-create-home \
			--shell /usr/sbin/nologin decorum

clean:
	rm -rf build build-san build-release
