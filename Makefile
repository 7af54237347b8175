# farmwatch: `make demo` shows it working, `make test` proves it.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
PKGS  := ./...
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# grpcnotrace drops golang.org/x/net/trace and the html/template it pulls in
# (3.6 MB less resident code in an idle agent); CGO_ENABLED=0 makes static
# binaries that need no libc of the host they are installed on.
TAGS  := grpcnotrace
export CGO_ENABLED := 0
BUF   := $(GO) tool -modfile=../tools/go.mod buf

.PHONY: help build test demo bench bench-fleet cross vet-os proto proto-check lint fuzz package

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/farmwatch-agent, bin/farmwatch-agentd (the service) and bin/farmwatch-collector for this machine
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/farmwatch-agent ./agent
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/farmwatch-agentd ./agent/cmd/farmwatch-agentd
	$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/farmwatch-collector ./collector

test: ## run every test (unit, rule tests, golden snapshots, end-to-end; PostgreSQL ones on a throwaway cluster of /usr/lib/postgresql/15/bin)
	@if [ -x "$${FARMWATCH_PGBIN:-/usr/lib/postgresql/15/bin}/initdb" ]; then echo "PostgreSQL tests: on a throwaway cluster of $${FARMWATCH_PGBIN:-/usr/lib/postgresql/15/bin}"; \
	  else echo "PostgreSQL tests: SKIPPED, no server binaries (install postgresql-15, or set FARMWATCH_PGBIN)"; fi
	$(GO) test -count=1 -timeout 20m $(PKGS)

demo: build ## helpdesk scans, then a collector with agents on this machine and on captured hosts
	@bash scripts/demo.sh $(BIN)

bench: ## benchmarks, each beside its baseline of the same run: scans vs a plain /proc read and vs ps, rule checks, the resident agent's CPU a scan and a program start, idle agent RSS and CPU (at 2 s and at the default 60 s interval)
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench 'PlainRead|Scan' -benchtime 20x -count 8 ./agent/scan | tee $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'Evaluate' -benchtime 300x -count 8 -cpu 1 -benchmem ./rules | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'Parse$$' -count 8 -cpu 1 -benchmem ./agent/edid | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'USB|Display' -count 8 -benchmem ./agent/sensor/usb ./agent/sensor/display | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'Ingest1000Agents|ScanRoundTrip1000$$|ApplyVsRaw' -benchtime 3x -count 3 -timeout 30m ./collector/server ./collector/store/sqlite | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'ResidentScan|ProcessEvent' -benchtime 200x -count 5 -benchmem ./agent/daemon | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'AgentIdle$$' -benchtime 1x -count 3 ./agent | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'AgentIdleAt60s' -benchtime 1x -count 3 -timeout 30m ./agent | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'ScanVsPs' -benchtime 20x -count 3 ./agent | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'PostgresApplyVsRaw' -benchtime 2x -count 3 -timeout 30m ./collector/store/postgres | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'FindObservations' -benchtime 40x -count 1 -timeout 30m ./collector/store/postgres | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'Query$$' -benchtime 40x -count 1 -timeout 30m ./collector/server | tee -a $(BIN)/bench.txt
	$(GO) test -run '^$$' -bench 'RelayScan' -benchtime 300x -count 3 ./collector/replica | tee -a $(BIN)/bench.txt
	$(GO) tool -modfile=tools/go.mod benchstat $(BIN)/bench.txt
	@bash scripts/benchratio.sh $(BIN)/bench.txt

bench-fleet: ## minutes of load: one collector and 10,000 fleetsim agents; two replicas on PostgreSQL with 2,000 (the README's sizing table)
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench 'FleetSQLite' -benchtime 1x -timeout 90m ./collector | tee $(BIN)/bench-fleet.txt
	FARMWATCH_FLEET_AGENTS=$${FARMWATCH_FLEET_REPLICA_AGENTS:-2000} $(GO) test -run '^$$' -bench 'FleetReplicas' -benchtime 1x -timeout 90m ./collector | tee -a $(BIN)/bench-fleet.txt
	@bash scripts/benchratio.sh $(BIN)/bench-fleet.txt

cross: ## vet and build for linux, darwin and windows on amd64 and arm64
	@set -e; for os in linux darwin windows; do for arch in amd64 arm64; do \
	  echo "vet+build $$os/$$arch"; \
	  GOOS=$$os GOARCH=$$arch $(GO) vet $(PKGS); \
	  GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./agent; \
	  GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./agent/cmd/farmwatch-agentd; \
	  GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./collector; \
	done; done

vet-os: ## go vet for linux, darwin and windows (what CI runs; cross adds arm64 and the builds)
	@set -e; for os in linux darwin windows; do echo "vet $$os"; GOOS=$$os $(GO) vet $(PKGS); done

proto: ## regenerate the Go code of proto/ with the pinned generators
	cd proto && $(BUF) lint && $(BUF) generate

proto-check: proto ## fail when the committed generated code is stale
	@git diff --exit-code -- proto/ || { echo "generated code in proto/ is stale: run make proto and commit"; exit 1; }

lint: ## gofmt, go vet, buf lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt'd:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd proto && $(BUF) lint

package: ## build the agent's packages into dist/: deb and rpm, msi, pkg (amd64 and arm64) and the MDM profile (installer/README.md)
	$(GO) run ./installer/cmd/package --version '$(VERSION)' --out dist

fuzz: ## run each fuzz target of each package for a short while
	@grep -rlE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | while read -r f; do \
	  for t in $$(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$$f" | sed 's/func //'); do echo "$$(dirname $$f) $$t"; done; \
	done | sort -u | while read -r pkg t; do \
	  echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 10s $$pkg || exit 1; \
	done
