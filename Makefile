# A thin wrapper over CMake. The real work is in CMakeLists.txt and scripts/.
PREFIX ?= /usr/local
BUILD ?= build/release
JOBS ?= $(shell nproc)

.PHONY: all build test run install bench clean

all: build

build:
	@scripts/deps.sh build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Every test, in a gcc build and an ASan+UBSan clang build.
test:
	scripts/test.sh

# The main job: a memory-heavy workload on base pages and on huge pages.
run:
	scripts/run.sh

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

bench:
	scripts/bench.sh $(if $(FULL),--full,)

clean:
	rm -rf build
