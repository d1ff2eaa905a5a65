# gongpai — run `make` for the list of targets.
.DEFAULT_GOAL := help

GO      ?= go
BIN     := bin/gongpai
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help build run test test-race bench lint

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/gongpai
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gongpai

run: build ## serve on the embedded store (./data) with the demo company
	./$(BIN) serve --demo

test: ## every test: unit, storage conformance, end-to-end with chromium
	$(GO) test -count=1 -timeout 10m ./...

test-race: ## every test under the race detector
	$(GO) test -race -count=1 -timeout 15m ./...

bench: ## benchmarks (sign-in, silent SSO, token endpoint, 100k-employee import); prints figures
	$(GO) test -run '^$$' -bench 'SignIn' -benchtime 30x ./e2e/...
	$(GO) test -run '^$$' -bench 'SilentSSO' -benchtime 3s ./e2e/...
	$(GO) test -run '^$$' -bench 'Throughput' -benchtime 5s ./e2e/...
	$(GO) test -run '^$$' -bench 'Import100k' -benchtime 1x -benchmem ./directory/

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
