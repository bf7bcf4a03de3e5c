# Thin wrapper over CMake: the two commands a new user needs are `make run` and `make test`.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all setup build run test bench asan format clean

all: build

setup:
	@sh scripts/setup.sh

# Warnings are errors for the project's own builds (CMake's default leaves them warnings for
# users); configuring every time keeps that true for a build tree made by hand.
build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMSIM_WERROR=ON
	cmake --build $(BUILD) -j $(JOBS)

run: build
	sh scripts/run-demo.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	sh scripts/bench.sh $(BUILD)

asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVMSIM_WERROR=ON -DVMSIM_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j $(JOBS) -LE nosan

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '\.pb-c\.')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
