# Thin wrapper over meson, so the README's commands are short.
#   make          build everything into ./build
#   make check    build with warnings as errors and run every test
#   make demo     the demo (see README)
BUILD ?= build

.PHONY: all check demo clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

check:
	BUILD=$(BUILD) ./scripts/run-tests.sh

demo: all
	BUILD=$(BUILD) ./scripts/demo.sh

clean:
	rm -rf $(BUILD)
